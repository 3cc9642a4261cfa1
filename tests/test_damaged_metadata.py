"""Damaged metadata is refused by name or tolerated, never read as less data (issue 38).

A damaged last Delta commit (empty, half-written), a damaged catalog row, a damaged
snapshots table, a data file gone, an unreadable checkpoint: each on real tables, and
``LakeStore.doctor`` lists it and sets aside what is safe to set aside.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow as pa
import pytest
from helpers import ids, root_rows, write_increment
from pyarrow import fs as pafs

import metaxy_lake as mxl
from metaxy_lake.catalog.snapshots import snapshot_rows
from metaxy_lake.graph.snapshot import GraphSnapshot
from metaxy_lake.ids import now_utc
from metaxy_lake.storage import pyarrow_filesystem
from metaxy_lake.store.doctor import DamageKind
from metaxy_lake.store.snapshots import snapshots_ref

DAMAGE = {"empty": b"", "half-written": b'{"commitInfo":{"timestamp":17000,"operation":"WRI'}


@pytest.fixture
def chain(graph: mxl.FeatureGraph) -> tuple[type[mxl.Feature], type[mxl.Feature]]:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        pass

    class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["a"])):
        pass

    return Root, Leaf


def listing(store: mxl.LakeStore, uri: str) -> dict[str, int]:
    """Every file under ``uri`` with its size."""
    filesystem, base = pyarrow_filesystem(uri, store.storage)
    infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    return {i.path: i.size for i in infos if i.type == pafs.FileType.File}


def overwrite(store: mxl.LakeStore, path: str, data: bytes) -> None:
    filesystem, _ = pyarrow_filesystem(store.root, store.storage)
    with filesystem.open_output_stream(path) as stream:
        stream.write(data)


def last_commit(store: mxl.LakeStore, uri: str) -> str:
    return max(p for p in listing(store, f"{uri}/_delta_log") if p.endswith(".json"))


COMMIT_FILES = "a commit file of the Delta log; Iceberg and Lance keep no such file"


def only_delta(fmt: str, why: str = COMMIT_FILES) -> None:
    if fmt != "delta":
        pytest.skip(why)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_last_delta_commit_is_refused_until_set_aside(
    make_store: Any, chain: Any, fmt: str, damage: str
) -> None:
    only_delta(fmt)
    root, leaf = chain
    store = make_store()
    store.write(root, root_rows({"s1": {"a": "1"}}))
    store.write(root, root_rows({"s2": {"a": "2"}}))
    uri = store.table_uri(root.key())
    damaged = last_commit(store, uri)
    overwrite(store, damaged, DAMAGE[damage])
    before = listing(store, uri)
    for call in (
        lambda: store.read(root).collect(),
        lambda: store.write(root, root_rows({"s3": {"a": "3"}})),
        lambda: store.resolve_update(leaf),
        lambda: make_store().read(root).collect(),  # a fresh store: nothing cached
    ):
        with pytest.raises(mxl.DamagedMetadataError, match="doctor --repair") as err:
            call()
        assert err.value.path is not None and err.value.path.endswith(damaged.rsplit("/")[-1])
    assert listing(store, uri) == before  # nothing written, nothing moved

    (found,) = store.doctor()
    assert found.kind is DamageKind.COMMIT and found.repaired is None
    assert found.path.endswith(damaged.rsplit("/")[-1])
    (fixed,) = store.doctor(repair=True)
    assert fixed.repaired is not None and "/_delta_log/_damaged/" in fixed.repaired
    assert ids(store.read(root)) == {"s1"}  # as of the commit before: s2 must be written again
    store.write(root, root_rows({"s2": {"a": "2"}}))
    assert ids(make_store().read(root)) == {"s1", "s2"}
    assert store.doctor() == []


def damaged_row(store: mxl.LakeStore, version: str) -> pa.Table:
    """A catalog row for ``version`` whose spec was cut short."""
    rows = snapshot_rows(
        GraphSnapshot.of(mxl.FeatureGraph.current()),
        store.context().project,
        now_utc(),
        None,
        None,
        None,
    )
    rows = rows.slice(0, 1)
    spec = rows.column("spec")[0].as_py()
    rows = rows.set_column(
        rows.schema.get_field_index("snapshot_version"), "snapshot_version", pa.array([version])
    )
    return rows.set_column(
        rows.schema.get_field_index("spec"), "spec", pa.array([spec[: len(spec) // 2]])
    )


def test_a_damaged_catalog_row_is_skipped_and_named(
    make_store: Any, chain: Any, graph: mxl.FeatureGraph, caplog: pytest.LogCaptureFixture
) -> None:
    root, leaf = chain
    store = make_store()
    first = store.push_graph(git_commit=None).snapshot_version
    catalog = store.format.open(snapshots_ref(store.context()))
    assert catalog is not None
    catalog.append(damaged_row(store, "d4m4g3d"), {})

    class Other(mxl.Feature, spec=mxl.FeatureSpec(key="other", fields=["b"])):
        pass  # the graph changed: the next write records its snapshot

    changed = graph.snapshot_version()
    with caplog.at_level(logging.WARNING):
        store.write(root, root_rows({"s1": {"a": "1"}}))
        write_increment(store, leaf)
    assert any("d4m4g3d" in r.getMessage() for r in caplog.records)
    assert [r.version for r in store.graph_history()][:2] == [changed, "d4m4g3d"]
    assert store.push_graph(git_commit=None).new is False
    rows = store.lineage(leaf, {"sample_uid": "s1"}).to_arrow().to_pylist()
    assert {r["feature"] for r in rows} == {"leaf", "root"}
    assert all(r["code_versions"] is not None for r in rows)  # read from the whole snapshot
    assert store.load_snapshot(first).version == first
    with pytest.raises(mxl.DamagedMetadataError, match=r"d4m4g3d.*mxl doctor"):
        store.load_snapshot("d4m4g3d")
    (found,) = store.doctor(repair=True)
    assert found.kind is DamageKind.SNAPSHOT_ROW and "d4m4g3d" in found.detail
    assert found.repaired is None  # rows are never rewritten: the damage stays listed


def test_a_damaged_snapshots_table_blocks_no_write(
    make_store: Any, chain: Any, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    only_delta(fmt)
    root, leaf = chain
    store = make_store()
    store.push_graph(git_commit=None)
    catalog = snapshots_ref(store.context()).uri
    overwrite(store, last_commit(store, catalog), DAMAGE["half-written"])
    before = listing(store, catalog)
    with caplog.at_level(logging.WARNING):
        make_store().write(root, root_rows({"s1": {"a": "1"}}))
        write_increment(store, leaf)
        rows = store.lineage(leaf, {"sample_uid": "s1"}).to_arrow().to_pylist()
    assert {r["feature"] for r in rows} == {"leaf", "root"}
    assert any("snapshot" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    for call in (store.push_graph, store.load_snapshot, store.graph_history):
        with pytest.raises(mxl.DamagedMetadataError, match="_catalog/snapshots"):
            call()
    assert listing(store, catalog) == before
    (fixed,) = store.doctor(repair=True)
    assert fixed.kind is DamageKind.COMMIT and fixed.repaired is not None
    assert store.push_graph(git_commit=None).new  # the commit set aside held the first push


def test_a_data_file_gone_is_named_damage(make_store: Any, chain: Any, fmt: str) -> None:
    root, leaf = chain
    store = make_store()
    store.write(root, root_rows({"s1": {"a": "1"}}))
    store.write(root, root_rows({"s2": {"a": "2"}}))
    uri = store.table_uri(root.key())
    data = [p for p in listing(store, uri) if p.endswith((".parquet", ".lance"))]
    data = [p for p in data if "/_delta_log/" not in p and "/metadata/" not in p]
    gone = sorted(data)[0]
    filesystem, _ = pyarrow_filesystem(store.root, store.storage)
    filesystem.delete_file(gone)
    with pytest.raises(mxl.DamagedMetadataError, match="doctor") as err:
        store.resolve_update(leaf)
    assert err.value.path is not None and err.value.path.endswith(gone.rsplit("/")[-1])
    if fmt == "lance":  # a Lance scan is lazy: the file is missed when the frame is collected
        return
    with pytest.raises(mxl.DamagedMetadataError, match=gone.rsplit("/")[-1]):
        store.read(root).collect()
    (found,) = store.doctor()
    assert found.kind is DamageKind.MISSING_FILE and found.path.endswith(gone.rsplit("/")[-1])


def test_guard_names_storage_failures_only(store: mxl.LakeStore) -> None:
    ctx = store.context()
    with pytest.raises(KeyError, match="not storage"), ctx.guard("a lookup"):
        raise KeyError("not storage")
    filesystem, base = pyarrow_filesystem(store.root, store.storage)
    with pytest.raises(mxl.StorageAccessError, match="a read failed"), ctx.guard("a read"):
        filesystem.open_input_file(f"{base}/absent")  # the store answers: no such object


@pytest.mark.locations("local")  # no request is made
def test_guard_names_what_the_format_declares(store: mxl.LakeStore, fmt: str) -> None:
    """Lance's failed request is a ``ValueError("LanceError(IO): ...")`` (measured): only a
    Lance store reads that text as a storage failure."""
    ctx = store.context()
    lance_io = ValueError("LanceError(IO): connection refused")
    expected = mxl.StorageAccessError if fmt == "lance" else ValueError
    assert ("lanceerror(io)" in store.format.storage_errors.markers) == (fmt == "lance")
    with pytest.raises(expected), ctx.guard("a read"):
        raise lance_io


def test_guard_lets_a_bug_through_even_while_storage_failed(store: mxl.LakeStore) -> None:
    """A bug raised while handling a real storage failure is the bug, not the failure."""
    ctx = store.context()
    filesystem, base = pyarrow_filesystem(store.root, store.storage)
    with pytest.raises(ZeroDivisionError), ctx.guard("a computation"):
        listed = filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
        _ = 1 / (len(listed) * 0)
    with pytest.raises(AssertionError, match="a bug"), ctx.guard("a read"):
        try:
            filesystem.open_input_file(f"{base}/absent")
        except OSError:
            raise AssertionError("a bug in the handler")  # noqa: B904 (the bug under test)
    with pytest.raises(AssertionError, match="a bug"), ctx.guard("a read"):
        try:
            filesystem.open_input_file(f"{base}/absent")
        except OSError as exc:
            raise AssertionError("a bug in the handler") from exc


def test_an_unreadable_checkpoint_is_listed_and_set_aside(
    make_store: Any, chain: Any, fmt: str
) -> None:
    only_delta(fmt, "checkpoint files are alike on every format: run on Delta only")
    root, leaf = chain
    store = make_store()
    store.write(root, root_rows({"s1": {"a": "1"}}))
    store.resolve_update(leaf)
    directory = f"{store.root}/_catalog/checkpoints/leaf"
    (good,) = listing(store, directory)
    bad = good.replace(good.rsplit("/")[-1][:10], "ffffffffff")  # newer than the good one
    overwrite(store, bad, b"PAR1 not a parquet file")
    (found,) = store.doctor()
    assert found.kind is DamageKind.CHECKPOINT and found.repaired is None
    (fixed,) = store.doctor(repair=True)
    assert fixed.repaired is not None and "/_catalog/_damaged/checkpoints/leaf/" in fixed.repaired
    assert list(listing(store, directory)) == [good]
    assert store.doctor() == []


def newest_metadata(store: mxl.LakeStore, uri: str, fmt: str) -> str:
    """The newest ``*.metadata.json`` (Iceberg) or ``_versions/*.manifest`` (Lance)."""
    files = listing(store, uri)
    if fmt == "iceberg":
        return max(p for p in files if p.endswith(".metadata.json"))
    return min(p for p in files if p.endswith(".manifest"))  # Lance names count down


@pytest.mark.locations("local")  # the libraries raise the same text on SeaweedFS (measured)
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_latest_metadata_is_refused_by_name(
    make_store: Any, chain: Any, fmt: str, damage: str
) -> None:
    if fmt == "delta":
        pytest.skip("Delta: test_a_damaged_last_delta_commit_is_refused_until_set_aside")
    root, leaf = chain
    store = make_store()
    store.write(root, root_rows({"s1": {"a": "1"}}))
    store.write(root, root_rows({"s2": {"a": "2"}}))
    uri = store.table_uri(root.key())
    overwrite(store, newest_metadata(store, uri, fmt), DAMAGE[damage])
    before = listing(store, uri)
    for call in (
        lambda: make_store().read(root).collect(),
        lambda: make_store().write(root, root_rows({"s3": {"a": "3"}})),
        lambda: make_store().resolve_update(leaf),
    ):
        with pytest.raises(mxl.DamagedMetadataError, match="mxl doctor"):
            call()
    assert listing(store, uri) == before
    (found,) = store.doctor(repair=True)
    assert found.kind is DamageKind.METADATA and found.path == uri and found.repaired is None
