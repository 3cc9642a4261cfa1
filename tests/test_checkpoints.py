"""Change-proportional resolves (docs/design.md, Checkpoints): when the checkpoint path is taken.

Every case compares the default resolve with ``checkpoint=False`` on the same data, and
asserts the path from the ``Increment``'s report: taken after metaxy appends (writes, soft
deletes), never after a compaction, a hard delete, a table dropped and created again, a
changed dep filter or fields mapping, a moved pin or a changed chain. The property tests
(``test_property_increment.py``) compare both paths with the model over random histories.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from helpers import root_rows
from pyarrow import fs as pafs

import metaxy_lake as mxl
from metaxy_lake.catalog.checkpoints import CHECKPOINTS_DIR
from metaxy_lake.failpoints import CHECKPOINT_BEFORE_MOVE, ENV
from metaxy_lake.storage import pyarrow_filesystem
from metaxy_lake.store.resolve import checkpointing

N = 40


@pytest.fixture(autouse=True)
def every_candidate_pays() -> Iterator[None]:
    """Take any usable checkpoint, however large the change against these small tables."""
    before = checkpointing.CANDIDATE_FRACTION
    checkpointing.CANDIDATE_FRACTION = float("inf")
    yield
    checkpointing.CANDIDATE_FRACTION = before


def define(**dep: Any) -> tuple[type[mxl.Feature], ...]:
    """Video (audio, frames) → Caption (caption) in a fresh graph; ``dep``: FeatureDep's."""
    graph = mxl.FeatureGraph()
    with graph.use():

        class Video(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="video", id_columns=["sample_uid"], fields=["audio", "frames"]
            ),
        ):
            path: str

        spec = mxl.FeatureSpec(
            key="caption", deps=[mxl.FeatureDep(Video, **dep)], fields=["caption"]
        )

        class Caption(mxl.Feature, spec=spec):
            text: str

    return Video, Caption


def videos(ids: range, salt: str = "") -> pl.DataFrame:
    values = {f"s{i:03d}": {"audio": f"a{salt}{i}", "frames": f"f{i}"} for i in ids}
    return root_rows(values, path=[f"p{i}" for i in ids])


def write_all(store: mxl.LakeStore, caption: type[mxl.Feature]) -> None:
    """Compute the whole increment, as a pipeline would; then resolve once (the checkpoint)."""
    inc = store.resolve_update(caption)
    rows = pl.concat(
        [inc.new.collect().to_polars(), inc.stale.collect().to_polars()], how="diagonal_relaxed"
    )
    store.write(caption, rows.with_columns(text=pl.lit("t")))
    assert store.resolve_update(caption).is_empty


def rows_of(inc: mxl.Increment, ids: tuple[str, ...] = ("sample_uid",)) -> dict[str, list[Any]]:
    out = {}
    for kind in ("new", "stale", "orphaned"):
        frame = getattr(inc, kind).collect().to_polars()
        cols = [*ids, "metaxy_provenance"]
        cols += ["metaxy_changed_fields"] if kind == "stale" else []
        out[kind] = sorted(tuple(str(r[c]) for c in cols) for r in frame.iter_rows(named=True))
    return out


def resolved(store: mxl.LakeStore, caption: type[mxl.Feature], **kwargs: Any) -> mxl.Increment:
    """The default resolve, checked against the full scan of the same data."""
    inc = store.resolve_update(caption, **kwargs)
    full = store.resolve_update(caption, checkpoint=False, **kwargs)
    assert full.path == "full" and full.reason == "checkpoint=False"
    assert rows_of(inc) == rows_of(full)
    return inc


def checkpoint_files(root: str | Path) -> list[Path]:
    return sorted((Path(root) / CHECKPOINTS_DIR).rglob("*"))


@pytest.fixture
def pipeline(
    make_store: Callable[..., mxl.LakeStore],
) -> tuple[mxl.LakeStore, type[mxl.Feature], type[mxl.Feature]]:
    video, caption = define()
    store = make_store()
    store.write(video, videos(range(N)))
    write_all(store, caption)
    return store, video, caption


Pipeline = tuple[mxl.LakeStore, type[mxl.Feature], type[mxl.Feature]]


@pytest.mark.locations("local", "s3")
def test_appends_take_the_checkpoint_path(pipeline: Pipeline) -> None:
    store, video, caption = pipeline
    store.write(video, videos(range(0, N, 10), salt="v2"))  # 4 changed
    store.write(video, videos(range(N, N + 3)))  # 3 new
    store.delete(video, nw.col("sample_uid") == "s001")  # 1 orphaned (a soft delete)
    inc = resolved(store, caption)
    assert inc.path == "checkpoint" and inc.reason == ""
    assert inc.counts() == {"new": 3, "stale": 4, "orphaned": 1}
    assert inc.candidates == 8  # only the changed samples were hashed and compared
    # nothing written since: the pending ids are the candidates
    again = resolved(store, caption)
    assert (again.path, again.candidates, again.counts()) == ("checkpoint", 8, inc.counts())


@pytest.mark.locations("local")
def test_staleness_predicates_and_scopes_use_checkpoints(pipeline: Pipeline) -> None:
    store, video, caption = pipeline
    predicate = nw.col("sample_uid").is_in(["s005", "s006"])
    first = resolved(store, caption, staleness_predicates=predicate)
    assert first.counts()["stale"] == 2
    second = resolved(store, caption, staleness_predicates=predicate)
    assert second.path == "checkpoint" and second.counts()["stale"] == 2
    shard = resolved(store, caption, shard=(0, 2))
    assert shard.path == "full"  # no checkpoint of this scope yet
    store.write(video, videos(range(0, N, 5), salt="v3"))
    again = resolved(store, caption, shard=(0, 2))
    assert again.path == "checkpoint" and 0 < again.counts()["stale"] < 8
    other = resolved(store, caption, shard=(1, 2))  # another scope: its own checkpoint
    assert other.path == "full"
    assert again.counts()["stale"] + other.counts()["stale"] == 8


@pytest.mark.locations("local")
def test_compaction_and_hard_delete_force_a_full_scan(pipeline: Pipeline, fmt: str) -> None:
    store, video, caption = pipeline
    store.write(video, videos(range(0, 5), salt="v2"))
    store.compact(video)
    inc = resolved(store, caption)
    assert (inc.path, inc.reason) == ("full", "no usable checkpoint")
    assert inc.counts()["stale"] == 5
    assert resolved(store, caption).path == "checkpoint"  # the full scan left one
    # a hard delete rewrites files (Lance adds deletion files and keeps its data files)
    store.delete(video, nw.col("sample_uid") == "s010", soft=False)
    inc = resolved(store, caption)
    assert inc.path == "full" and inc.counts()["orphaned"] == 1


@pytest.mark.locations("local")
def test_a_table_dropped_and_created_again_is_another_table(pipeline: Pipeline) -> None:
    store, video, caption = pipeline
    if store.format.name == "iceberg":
        store.format.catalog.drop_table(("metaxy", "video"))  # type: ignore[attr-defined]
    shutil.rmtree(Path(store.root) / "features" / "video")
    store.write(video, videos(range(N)))  # the same rows, in a new table
    inc = resolved(store, caption)
    assert (inc.path, inc.reason) == ("full", "no usable checkpoint")
    assert inc.is_empty


@pytest.mark.parametrize(
    "changed",
    [
        {"filters": ["path != 'p3'"]},
        {"fields_mapping": mxl.FieldsMapping.specific({"caption": ["audio"]})},
    ],
    ids=["dep-filter", "fields-mapping"],
)
@pytest.mark.locations("local")
def test_a_changed_definition_makes_old_checkpoints_unusable(
    pipeline: Pipeline, changed: dict[str, Any]
) -> None:
    store, _, caption = pipeline
    _, redefined = define(**changed)
    inc = resolved(store, redefined)
    assert (inc.path, inc.reason) == ("full", "no usable checkpoint")
    assert resolved(store, redefined).path == "checkpoint"
    assert resolved(store, caption).path == "checkpoint"  # the old definition's still serves


@pytest.mark.locations("local")
def test_a_changed_chain_or_moved_pin_makes_old_checkpoints_unusable(
    make_store: Callable[..., mxl.LakeStore], tmp_path: Path
) -> None:
    video, caption = define()
    prod = make_store(tmp_path / "prod")
    prod.write(video, videos(range(N)))
    write_all(prod, caption)
    pin = dt.datetime.now(dt.UTC)
    dev = make_store(tmp_path / "dev", fallback=[prod])
    assert resolved(dev, caption).path == "full"
    dev.write(video, videos(range(3), salt="dev"))
    inc = resolved(dev, caption)  # a write to the primary of the chain: an append
    assert inc.path == "checkpoint" and inc.counts()["stale"] == 3
    prod.write(video, videos(range(5, 7), salt="prod"))  # and one to the fallback
    inc = resolved(dev, caption)
    assert inc.path == "checkpoint" and inc.counts()["stale"] == 5
    pinned = make_store(tmp_path / "dev", fallback=[prod.pinned(pin)])
    assert resolved(pinned, caption).path == "full"  # a pin is another scope
    alone = make_store(tmp_path / "dev")
    assert resolved(alone, caption).path == "full"  # and so is another chain


@pytest.mark.locations("local")
def test_checkpoint_false_read_only_and_roots_record_nothing(
    make_store: Callable[..., mxl.LakeStore], tmp_path: Path
) -> None:
    video, caption = define()
    store = make_store(tmp_path / "s")
    store.write(video, videos(range(N)))
    inc = store.resolve_update(caption, checkpoint=False)
    assert (inc.path, inc.reason) == ("full", "checkpoint=False")
    root = store.resolve_update(video, samples=videos(range(N)))
    assert (root.path, root.reason) == ("full", "a root")
    reader = make_store(tmp_path / "s", read_only=True)
    assert reader.resolve_update(caption).reason == "read-only store"
    assert checkpoint_files(tmp_path / "s") == []
    assert store.resolve_update(caption).reason == "no usable checkpoint"
    assert len(checkpoint_files(tmp_path / "s")) == 2  # the target's directory and its file


@pytest.mark.locations("local")
def test_corrupt_partial_and_foreign_checkpoints_are_ignored(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    store, video, caption = pipeline
    store.write(video, videos(range(3), salt="v2"))
    (newest,) = [p for p in checkpoint_files(store.root) if p.is_file()][-1:]
    newest.write_bytes(newest.read_bytes()[:20])  # cut short: not a Parquet file any more
    (newest.parent / "0000-foreign.parquet").write_bytes(b"PAR1 not really")
    (newest.parent / f"{newest.name}.tmp").write_bytes(b"half")
    with caplog.at_level(logging.WARNING, logger="metaxy_lake.catalog.checkpoints"):
        inc = resolved(store, caption)
    assert inc.counts()["stale"] == 3
    assert inc.path == "checkpoint"  # an older checkpoint of the scope served
    assert "unreadable, ignored" in caplog.text


def _resolver(root: str, fmt: str, failpoint: str | None = None) -> subprocess.Popen[bytes]:
    """A process resolving Caption in the store at ``root``."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[3]); import test_checkpoints as t; "
        "import metaxy_lake as mxl; _, caption = t.define(); "
        "mxl.LakeStore(sys.argv[1], format=sys.argv[2]).resolve_update(caption)"
    )
    env = {**os.environ, ENV: failpoint} if failpoint else dict(os.environ)
    here = str(Path(__file__).parent)
    return subprocess.Popen([sys.executable, "-c", code, root, fmt, here], env=env)


@pytest.mark.locations("local")
def test_concurrent_and_killed_resolvers(pipeline: Pipeline, fmt: str) -> None:
    store, video, caption = pipeline
    store.write(video, videos(range(4), salt="v2"))
    before = {p.name for p in checkpoint_files(store.root)}
    # a resolver killed between writing its checkpoint and moving it into place
    assert _resolver(store.root, fmt, CHECKPOINT_BEFORE_MOVE).wait(timeout=120) == -9
    left = {p.name for p in checkpoint_files(store.root)} - before
    assert len(left) == 1 and next(iter(left)).endswith(".tmp")
    # three resolvers at once, each recording its own checkpoint
    procs = [_resolver(store.root, fmt) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    assert len({p.name for p in checkpoint_files(store.root)} - before) == 4
    store.write(video, videos(range(10, 12), salt="v2"))
    inc = resolved(store, caption)
    assert inc.path == "checkpoint" and inc.counts()["stale"] == 6
    # expire prunes what no resolve starts from: older checkpoints and the dead one's file
    store.expire(caption, older_than=dt.timedelta(days=1))
    names = [p.name for p in checkpoint_files(store.root) if p.is_file()]
    assert len(names) == 1 and not names[0].endswith(".tmp")
    assert resolved(store, caption).path == "checkpoint"


def _resolved_later(store: mxl.LakeStore, caption: type[mxl.Feature]) -> dt.datetime:
    """A second later, resolve (recording a checkpoint); a time between the last commit
    and the checkpoint."""
    time.sleep(1)
    between = dt.datetime.now(dt.UTC)
    assert resolved(store, caption).path == "checkpoint"
    return between


def _since(when: dt.datetime) -> dt.timedelta:
    return dt.datetime.now(dt.UTC) - when


@pytest.mark.locations("local")
def test_expire_refuses_versions_the_newest_checkpoint_reads(pipeline: Pipeline) -> None:
    store, video, caption = pipeline
    between = _resolved_later(store, caption)
    store.write(video, videos(range(3), salt="v2"))  # the version it read is not the latest
    table = store.format.open(store.table_ref(video.key()))
    assert table is not None
    history = [c.version for c in table.history()]
    with pytest.raises(mxl.ExpiryRefusedError, match="newest checkpoint of caption reads"):
        store.expire(video, older_than=_since(between))
    table = store.format.open(store.table_ref(video.key()))
    assert table is not None and [c.version for c in table.history()] == history  # unchanged
    between = _resolved_later(store, caption)  # it reads the latest version now
    store.expire(video, older_than=_since(between))
    store.write(video, videos(range(3, 5), salt="v2"))
    with pytest.raises(mxl.ExpiryRefusedError):
        store.expire(video, older_than=_since(between))
    store.expire(video, older_than=_since(between), force=True)
    inc = resolved(store, caption)
    assert inc.path == "full" and inc.counts()["stale"] == 5
    # an ad-hoc scope protects nothing once a newer resolve of the feature exists, and
    # expire prunes its file
    assert store.resolve_update(caption, shard=(0, 2)).path == "full"
    store.write(video, videos(range(5, 6), salt="v2"))
    assert resolved(store, caption).path == "checkpoint"
    store.expire(video, older_than=dt.timedelta(0))
    store.expire(caption, older_than=dt.timedelta(0))
    names = [p.name for p in checkpoint_files(store.root) if p.is_file()]
    assert len(names) == 1  # the newest, of the feature's own scope
    assert resolved(store, caption).path == "checkpoint"


@pytest.mark.locations("local")
def test_ids_declared_in_another_order_by_the_target(store: mxl.LakeStore) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Frames(mxl.Feature, spec=mxl.FeatureSpec(key="frames", id_columns=["clip", "frame"])):
            pass

        class Boxes(
            mxl.Feature,
            spec=mxl.FeatureSpec(key="boxes", id_columns=["frame", "clip"], deps=[Frames]),
        ):
            text: str

    def frames(salt: str) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "clip": ["c1", "c1", "c2"],
                "frame": ["f1", "f2", "f1"],
                "metaxy_provenance_by_field": [{"default": f"{salt}{i}"} for i in range(3)],
            }
        )

    store.write(Frames, frames("a"))
    write_all(store, Boxes)
    store.write(Frames, frames("b")[:2])  # (c1, f1) and (c1, f2) change
    inc = store.resolve_update(Boxes)
    assert inc.path == "checkpoint"
    stale = inc.stale.collect().to_polars().select("clip", "frame").rows()
    assert sorted(stale) == [("c1", "f1"), ("c1", "f2")]
    full = store.resolve_update(Boxes, checkpoint=False)
    assert rows_of(inc, ("frame", "clip")) == rows_of(full, ("frame", "clip"))


@pytest.mark.locations("local")
def test_scopes_never_collide_with_a_feature_named_like_a_scope_part(store: mxl.LakeStore) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Global(mxl.Feature, spec=mxl.FeatureSpec(key="global", id_columns=["sample_uid"])):
            path: str

        class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Global])):
            pass

    rows = root_rows({f"s{i}": {"default": f"d{i}"} for i in range(4)}, path=["p"] * 4)
    store.write(Global, rows)
    only = nw.col("sample_uid") != "s3"
    assert store.resolve_update(Leaf, global_filters=only).counts()["new"] == 3
    inc = resolved(store, Leaf)  # without the global filter: another scope
    assert (inc.path, inc.counts()["new"]) == ("full", 4)


@pytest.mark.locations("local")
def test_predicates_and_filters_that_are_not_row_by_row_scan_in_full(pipeline: Pipeline) -> None:
    store, _, caption = pipeline
    for kwargs in (
        {"staleness_predicates": nw.col("text").str.len_chars().max() > 0},
        {"filters": {caption: nw.col("text").cum_count().over(order_by="sample_uid") < 5}},
    ):
        first = resolved(store, caption, **kwargs)
        again = resolved(store, caption, **kwargs)
        assert (
            first.reason
            == again.reason
            == ("a filter or predicate that is not row by row (a window or an aggregate)")
        )
    resolved(store, caption, staleness_predicates=nw.lit(True))
    inc = resolved(store, caption, staleness_predicates=nw.lit(True))  # a literal is fine
    assert inc.path == "checkpoint" and inc.counts()["stale"] == N


@pytest.mark.locations("local")
def test_a_table_restored_from_an_older_copy_is_not_the_table_read(pipeline: Pipeline) -> None:
    store, video, caption = pipeline
    if store.format.name == "iceberg":  # the catalog points at the metadata file: restore it
        pytest.skip("an Iceberg table is restored through its catalog, not by copying files")
    directory = Path(store.root) / "features" / "video"
    backup = Path(f"{store.root}-backup")
    shutil.copytree(directory, backup)
    store.write(video, videos(range(3), salt="x"))
    write_all(store, caption)  # its checkpoint reads the version of that write
    shutil.rmtree(directory)
    shutil.copytree(backup, directory)  # the same table id, its versions counted again
    store.write(video, videos([5], salt="y"))
    inc = resolved(store, caption)
    assert (inc.path, inc.reason) == ("full", "no usable checkpoint")
    assert inc.counts()["stale"] == 4  # s0-s2 back to their old audio, and s5


def test_a_delta_commit_landing_while_history_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delta-rs numbers history down from the version loaded: a commit landing between
    loading the log and reading its history would shift every number (and a hard delete
    in between would be judged by the append's entry)."""
    from metaxy_lake.formats import delta

    video, caption = define()
    store = mxl.LakeStore(tmp_path / "s")
    store.write(video, videos(range(N)))
    write_all(store, caption)
    store.delete(video, nw.col("sample_uid") == "s001", soft=False)
    real = delta._history

    def racing(table: Any, limit: int | None) -> list[Any]:
        monkeypatch.setattr(delta, "_history", real)  # once: another writer lands now
        mxl.LakeStore(tmp_path / "s").write(video, videos([7], salt="z"))
        return real(table, limit)

    monkeypatch.setattr(delta, "_history", racing)
    with_race = store.resolve_update(caption)
    assert with_race.path == "full"  # the numbers cannot be trusted: no checkpoint
    assert [r[0] for r in rows_of(with_race)["orphaned"]] == ["s001"]
    inc = resolved(store, caption)
    assert inc.counts()["orphaned"] == 1


@pytest.mark.locations("local", "s3")
def test_a_bug_on_the_checkpoint_path_fails_while_damaged_checkpoints_scan_in_full(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only named checkpoint problems fall back to a full scan; a bug is never hidden."""
    store, video, caption = pipeline
    store.write(video, videos(range(3), salt="v2"))

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug reading pending ids")

    with monkeypatch.context() as patch:  # a bug where a resolve starts from a checkpoint
        patch.setattr(checkpointing, "read_pending", broken)
        with pytest.raises(ZeroDivisionError, match="a bug reading pending ids"):
            store.resolve_update(caption)

    def wrong(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bug recording a checkpoint")

    with monkeypatch.context() as patch:  # a bug where it records one
        patch.setattr(checkpointing, "write_checkpoint", wrong)
        with pytest.raises(AssertionError, match="a bug recording a checkpoint"):
            store.resolve_update(caption)

    # every checkpoint file of the target damaged on disk (cut short): a full scan, right
    fs, base = pyarrow_filesystem(f"{store.root}/{CHECKPOINTS_DIR}", store.storage)
    files = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    damaged = [f.path for f in files if f.type == pafs.FileType.File]
    assert damaged
    for path in damaged:
        with fs.open_input_stream(path) as handle:
            head = handle.read(20)
        with fs.open_output_stream(path) as handle:
            handle.write(head)
    inc = resolved(store, caption)
    assert (inc.path, inc.reason) == ("full", "no usable checkpoint")
    assert inc.counts() == {"new": 0, "stale": 3, "orphaned": 0}
