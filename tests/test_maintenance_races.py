"""Maintenance racing writers: nothing a writer committed is lost (docs/architecture.md, Formats).

Compaction, expiry and hard deletes run while writers stage and commit. Every format, local
and on S3: a commit whose files were staged before an ``expire(older_than=0)`` and a
compaction lands whole (on Lance, expiry used to remove the staged files, and every later
read failed); a writer whose read version expiry removed retries and lands. Delta: history
lists only versions that read, and expiry leaves the table's properties as they were. The
slow stage races writer processes against maintenance loops.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import narwhals as nw
import pytest
from deltalake import DeltaTable
from test_s3 import batches
from workers import batch, batch_feature, hard_delete_each, write_batches_landed

import metaxy_lake as mxl
from metaxy_lake.failpoints import COMPACT_AFTER_REWRITE, WRITE_AFTER_DATA_FILES, FailpointError
from metaxy_lake.formats import base
from metaxy_lake.formats import lance as lance_format
from metaxy_lake.storage import object_store_options

ROWS = 20


def versions_read(store: mxl.LakeStore, feature: type[mxl.Feature]) -> list[int]:
    """Read the table as of every version its history lists; return those versions."""
    listed = [c.version for c in store.history(feature)]
    for version in listed:
        store.read(feature, as_of=version).collect()
    return listed


def test_a_commit_staged_before_compaction_and_expiry_lands_whole(store, monkeypatch) -> None:
    feature = batch_feature()
    for seq in range(3):
        store.write(feature, batch(0, seq, ROWS))
    ran: list[Any] = []

    def maintain(name: str, error: type[Exception] = FailpointError) -> None:
        """Between the write's data files and its commit: compact, then expire everything."""
        if name == WRITE_AFTER_DATA_FILES and not ran:
            ran.append(store.compact(feature))
            ran.append(store.expire(feature, older_than=dt.timedelta(0)))

    monkeypatch.setattr(base, "failpoint", maintain)
    store.write(feature, batch(1, 0, ROWS))  # its handle read a version expiry removed
    assert ran[0].version is not None  # the compaction did rewrite files
    monkeypatch.undo()
    store.write(feature, batch(1, 1, ROWS))
    expected = {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)}
    assert batches(store) == dict.fromkeys(expected, ROWS)
    versions_read(store, feature)


def test_a_commit_deadline_beyond_the_staged_file_grace_is_refused(tmp_path) -> None:
    root = tmp_path / "store"
    with pytest.raises(mxl.StoreConfigError, match="commit_timeout_s"):
        mxl.LakeStore(root, commit_timeout_s=base.MAX_COMMIT_TIMEOUT_S + 1)
    assert not root.exists()


def store_at(
    request: pytest.FixtureRequest, tmp_path: Any, location: str, fmt: str
) -> mxl.LakeStore:
    """An empty store of format ``fmt`` at the test's location."""
    if location == "local":
        return mxl.LakeStore(tmp_path / "store", format=fmt)
    server = request.getfixturevalue("s3_server")
    root = f"s3://{server.bucket}/{uuid.uuid4().hex}"
    return mxl.LakeStore(root, format=fmt, storage_options=server.options())


@pytest.fixture
def delta_store(request: pytest.FixtureRequest, tmp_path: Any, location: str) -> mxl.LakeStore:
    """An empty Delta store at the test's location."""
    return store_at(request, tmp_path, location, "delta")


@pytest.fixture
def lance_store(request: pytest.FixtureRequest, tmp_path: Any, location: str) -> mxl.LakeStore:
    """An empty Lance store at the test's location."""
    return store_at(request, tmp_path, location, "lance")


def removed_halfway(store: mxl.LakeStore, feature: type[mxl.Feature], version: int) -> None:
    """Remove one Lance version's manifest and transaction file, as a cleanup caught halfway.

    ``cleanup_old_versions`` removes versions in no fixed order, so while it runs a version
    may be gone while the one before it is still there (the state this leaves).
    """
    root = Path(store.table_ref(feature.key()).uri)
    (root / "_versions" / f"{2**64 - 1 - version}.manifest").unlink()
    for txn in (root / "_transactions").glob(f"{version - 1}-*.txn"):
        txn.unlink()


@pytest.mark.locations("local")
def test_a_lance_compaction_never_undoes_a_hard_delete_whose_version_expired(
    lance_store, monkeypatch
) -> None:
    """A hard delete commits while a compaction rewrites; expiry then removes its version.

    pylance's own compaction committed over the version it read, and Lance's conflict check
    skipped the delete whose manifest and transaction expiry had removed: the deleted row
    came back (seen 1 run in ~9 of the slow race on S3; here made deterministic).
    """
    store, feature = lance_store, batch_feature()
    for seq in range(3):
        store.write(feature, batch(0, seq, ROWS))
    victim = "w0-s0-r0"
    ran: list[Any] = []

    def meanwhile(name: str, error: type[Exception] = FailpointError) -> None:
        if name == COMPACT_AFTER_REWRITE and not ran:
            ran.append(store.delete(feature, nw.col("sample_uid") == victim, soft=False))
            store.write(feature, batch(1, 0, ROWS))  # the delete is no longer the latest
            removed_halfway(store, feature, ran[0].version)

    monkeypatch.setattr(lance_format, "failpoint", meanwhile)
    store.compact(feature)
    monkeypatch.undo()
    assert ran and ran[0].rows == 1
    live = store.read(feature).collect().to_polars()["sample_uid"].to_list()
    assert victim not in live
    expected = {(0, 0): ROWS - 1, (0, 1): ROWS, (0, 2): ROWS, (1, 0): ROWS}
    assert batches(store) == expected


def test_delta_history_after_expiry_lists_only_versions_that_read(delta_store) -> None:
    store, feature = delta_store, batch_feature()
    for seq in range(3):
        store.write(feature, batch(0, seq, ROWS))
    store.compact(feature)
    store.expire(feature, older_than=dt.timedelta(minutes=59))  # a window under one hour
    written = versions_read(store, feature)
    assert len(written) >= 5  # the three writes and the compaction are kept
    store.expire(feature, older_than=dt.timedelta(0))
    assert len(versions_read(store, feature)) < len(written)


def test_delta_expiry_leaves_the_table_properties_and_later_history_alone(delta_store) -> None:
    store, feature = delta_store, batch_feature()
    for seq in range(2):
        store.write(feature, batch(0, seq, ROWS))
    ref = store.table_ref(feature.key())
    table = store.format.open(ref)
    assert table is not None
    before = dict(table.properties)
    store.expire(feature, older_than=dt.timedelta(0))
    after = store.format.open(ref)
    assert after is not None and dict(after.properties) == before
    for seq in range(2, 4):
        store.write(feature, batch(0, seq, ROWS))
    kept = versions_read(store, feature)
    # what delta-rs does at each automatic checkpoint (every 100th commit): checkpoint,
    # then remove the log entries older than the table's log retention
    log = DeltaTable(ref.uri, storage_options=object_store_options(store.root, store.storage))
    log.create_checkpoint()
    log.cleanup_metadata()
    assert versions_read(store, feature) == kept


RACE_WRITERS, RACE_WRITES, RACE_ROWS, VICTIMS = 3, 8, 50, 16
MAINTENANCE_ROUNDS, MAINTENANCE_S, MAINTENANCE_PAUSE_S = 200, 60.0, 0.1


def maintain(store: mxl.LakeStore, feature: type[mxl.Feature], round_: int) -> None:
    """One step of the maintenance loop: expire (by retention, then all), or compact.

    Only ``CommitConflictError`` may reach the caller (nothing happened then).
    """
    step = round_ % 3
    with contextlib.suppress(mxl.CommitConflictError):
        if step == 0:
            store.expire(feature)
        elif step == 1:
            store.compact(feature)
        else:
            store.expire(feature, older_than=dt.timedelta(0))


@pytest.mark.slow
def test_writers_racing_compaction_expiry_and_hard_deletes_lose_nothing(store_kwargs) -> None:
    """Writer processes and a hard-deleting process, while this one compacts and expires."""
    feature = batch_feature()
    store = mxl.LakeStore(**store_kwargs)
    store.write(feature, batch(99, 0, VICTIMS))  # the samples the hard deletes remove
    victims = [f"w99-s0-r{i}" for i in range(VICTIMS)]
    spawn = multiprocessing.get_context("spawn")  # delta-rs is not fork-safe
    with ProcessPoolExecutor(RACE_WRITERS + 1, mp_context=spawn) as pool:
        writers = [
            pool.submit(write_batches_landed, store_kwargs, w, RACE_WRITES, RACE_ROWS)
            for w in range(RACE_WRITERS)
        ]
        deleter = pool.submit(hard_delete_each, store_kwargs, victims)
        start = time.monotonic()
        for round_ in range(MAINTENANCE_ROUNDS):
            running = not all(f.done() for f in [*writers, deleter])
            if not running or time.monotonic() - start > MAINTENANCE_S:
                break
            maintain(store, feature, round_)
            time.sleep(MAINTENANCE_PAUSE_S)  # the writers' commits get through between steps
        landed = {w: f.result() for w, f in enumerate(writers)}  # any other error raises
        deleted = deleter.result()
    expected = {(w, s): RACE_ROWS for w, seqs in landed.items() for s in seqs}
    found = batches(store)
    assert found.pop((99, 0), 0) == VICTIMS - len(deleted)
    assert found == expected
    live = store.read(feature).collect().to_polars()["sample_uid"].to_list()
    assert set(deleted).isdisjoint(live)
    versions_read(store, feature)
    store.write(feature, batch(100, 0, RACE_ROWS))  # the table takes writes after
    assert batches(store)[(100, 0)] == RACE_ROWS
