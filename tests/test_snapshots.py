"""Graph snapshots in the catalog table, on every format (docs/design.md, Graph snapshots).

Pushes are idempotent and return the diff against the previous snapshot; the history
lists every recording; a recorded snapshot loads without the code that declared it; a
write under a snapshot the catalog lacks records it first (once the catalog exists); two
processes pushing one graph at once record it once or harmlessly twice.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from typing import Any

import pytest
from helpers import root_rows
from workers import push_same_graph, snapshot_graph

import metaxy_lake as mxl
from metaxy_lake.catalog.snapshots import SNAPSHOTS_DIR, snapshot_rows
from metaxy_lake.graph.snapshot import GraphSnapshot
from metaxy_lake.schema import COMMIT_OPERATION
from metaxy_lake.store.snapshots import _recordings, snapshots_ref

pytestmark = pytest.mark.locations("local")  # the catalog table goes through the one commit path


def catalog_version(store: mxl.LakeStore) -> int | None:
    table = store.format.open(snapshots_ref(store._ctx))
    return None if table is None else table.version


def test_push_is_idempotent_and_diffs_against_the_previous_snapshot(store) -> None:
    graph1, _ = snapshot_graph("1")
    first = store.push_graph("first", git_commit="abc123", tags={"env": "ci"}, graph=graph1)
    assert first.new
    assert first.snapshot_version == graph1.snapshot_version()
    assert sorted(first.diff.by_status("added")) == ["crop", "faces", "speech", "video"]
    assert f"/{SNAPSHOTS_DIR}" in snapshots_ref(store._ctx).uri
    recorded = catalog_version(store)

    again = store.push_graph("again", graph=graph1)
    assert not again.new and again.diff.is_empty
    assert catalog_version(store) == recorded  # nothing committed

    graph2, _ = snapshot_graph("2")
    bumped = store.push_graph("bump crop audio", git_commit=None, graph=graph2)
    assert bumped.new
    assert bumped.diff.by_status("changed") == ["crop"]
    assert bumped.diff.by_status("downstream") == ["speech"]  # faces reads only crop's frames
    (audio,) = bumped.diff.change_of("crop").fields  # type: ignore[union-attr]
    assert (audio.key, audio.old_code_version, audio.new_code_version) == ("audio", "1", "2")
    assert audio.old_version != audio.new_version
    assert bumped.diff.change_of("speech").because_of == ("crop",)  # type: ignore[union-attr]

    history = store.graph_history()
    assert [h.version for h in history] == [graph2.snapshot_version(), graph1.snapshot_version()]
    assert [h.features for h in history] == [4, 4]
    assert (history[1].message, history[1].git_commit, dict(history[1].tags)) == (
        "first",
        "abc123",
        {"env": "ci"},
    )
    assert (history[0].message, history[0].git_commit) == ("bump crop audio", None)


def test_a_recorded_snapshot_loads_without_its_code(store) -> None:
    graph1, _ = snapshot_graph("1")
    graph2, _ = snapshot_graph("2")
    store.push_graph(graph=graph1, git_commit=None)
    store.push_graph(graph=graph2, git_commit=None)
    reopened = mxl.LakeStore(store.root, format=store.format.name)

    old = reopened.load_snapshot(graph1.snapshot_version()[:10])  # a unique prefix will do
    assert old == GraphSnapshot.of(graph1)
    assert old.features["crop"].code_versions["audio"] == "1"
    assert old.features["faces"].dependencies == ["crop"]
    assert reopened.load_snapshot() == GraphSnapshot.of(graph2)  # the latest by default

    with pytest.raises(mxl.UnknownSnapshotError, match="is not recorded"):
        reopened.load_snapshot("ffffffffffff")
    with pytest.raises(mxl.UnknownSnapshotError, match="is ambiguous"):
        reopened.load_snapshot("")


def test_a_write_records_its_snapshot_once_the_catalog_exists(store) -> None:
    graph1, features1 = snapshot_graph("1")
    store.write(features1["video"], root_rows({"s1": {"frames": "f", "audio": "a"}}, path=["p"]))
    assert store.graph_history() == []  # no catalog yet: a write does not create one
    assert catalog_version(store) is None

    store.push_graph(graph=graph1, git_commit=None)
    graph2, features2 = snapshot_graph("2")
    store.write(features2["video"], root_rows({"s2": {"frames": "f", "audio": "a"}}, path=["p"]))
    history = store.graph_history()
    assert [h.version for h in history] == [graph2.snapshot_version(), graph1.snapshot_version()]
    assert history[0].message == "recorded by a write"
    versions = set(store.read(features2["video"]).collect().to_polars()["metaxy_snapshot_version"])
    assert versions == {graph1.snapshot_version(), graph2.snapshot_version()}

    store.write(features2["video"], root_rows({"s3": {"frames": "f", "audio": "a"}}, path=["p"]))
    assert len(store.graph_history()) == 2  # recorded once


def test_bad_pushes_are_refused_and_write_nothing(store_kwargs) -> None:
    graph1, _ = snapshot_graph("1")
    with pytest.raises(mxl.ReadOnlyStoreError):
        mxl.LakeStore(**store_kwargs, read_only=True).push_graph(graph=graph1)
    with pytest.raises(mxl.UnknownFeatureError, match="no features"):
        mxl.LakeStore(**store_kwargs).push_graph(graph=mxl.FeatureGraph())
    assert catalog_version(mxl.LakeStore(**store_kwargs)) is None


@pytest.mark.locations("local", "s3")  # where serverless pushers race for real
def test_two_processes_pushing_one_graph_record_it_once_or_harmlessly_twice(
    store_kwargs: dict[str, Any],
) -> None:
    spawn = multiprocessing.get_context("spawn")  # delta-rs is not fork-safe
    barrier, results = spawn.Barrier(2), spawn.Queue()
    pushers = [
        spawn.Process(target=push_same_graph, args=(store_kwargs, barrier, results))
        for _ in range(2)
    ]
    for p in pushers:
        p.start()
    for p in pushers:
        p.join(timeout=300)
    assert [p.exitcode for p in pushers] == [0, 0]  # no error reached either pusher
    news = [results.get(timeout=5) for _ in pushers]
    assert any(news)  # at least one of them recorded it
    graph, _ = snapshot_graph()
    store = mxl.LakeStore(**store_kwargs)
    history = store.graph_history()
    assert 1 <= len(history) <= 2
    assert {h.version for h in history} == {graph.snapshot_version()}
    assert [h.features for h in history] == [4] * len(history)  # never a broken snapshot
    assert store.load_snapshot() == GraphSnapshot.of(graph)
    assert not store.push_graph(graph=graph).new
    table = store.format.open(snapshots_ref(store._ctx))
    assert table is not None
    creations = [c for c in table.history() if c.metadata.get(COMMIT_OPERATION) == "create"]
    assert len(creations) <= 1  # the loser of the creation race opened the winner's table


def test_two_recordings_in_one_microsecond_stay_two() -> None:
    graph, _ = snapshot_graph()
    at = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    one = snapshot_rows(GraphSnapshot.of(graph), "default", at, None, None, None).to_pylist()
    rows = sorted(one + one, key=lambda r: r["feature_key"])  # as the catalog reads them back
    recordings = _recordings(rows)
    assert [len(group) for _, _, group in recordings] == [4, 4]
    for _, _, group in recordings:
        assert sorted(r["feature_key"] for r in group) == ["crop", "faces", "speech", "video"]
