"""Clock skew: a later commit is live whatever the writers' clocks say.

Writers are real processes whose system clock is set off by ``METAXY_LAKE_CLOCK_OFFSET_S``
(read by ``metaxy_lake.ids``: everything else is the production path). They stamp after
the newest commits they saw (docs/on-disk-format.md, section 5), so a write that starts
after another's commit returned is live over it. The knob skews metaxy_lake's write clock
only: the formats' own commit timestamps stay true. The test process itself never writes
a skewed row: its write clock must stay true for the next tests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from helpers import root_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyiceberg.table import snapshots as iceberg_snapshots

import metaxy_lake as mxl
from metaxy_lake.catalog.commit_log import newest_stamp
from metaxy_lake.failpoints import CLOCK_OFFSET_ENV
from metaxy_lake.formats import CommitRecord
from metaxy_lake.ids import now_utc

TEN_MINUTES = 600
ROOT_KEY, LEAF_KEY = "clock/root", "clock/leaf"


def features() -> tuple[type[mxl.Feature], type[mxl.Feature]]:
    """A root with a text column and a leaf computed from it, in a graph of their own."""
    g = mxl.FeatureGraph()
    with g.use():

        class Root(mxl.Feature, spec=mxl.FeatureSpec(key=ROOT_KEY, fields=["a"])):
            value: str | None = None

        class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key=LEAF_KEY, deps=[Root], fields=["a"])):
            pass

    return Root, Leaf


class Worker:
    """A writer process whose clock is ``offset_s`` seconds off; it does one job a line."""

    def __init__(self, offset_s: float, log: Path) -> None:
        env = {**os.environ, CLOCK_OFFSET_ENV: str(offset_s)}
        self.log = log
        with log.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
            )

    def run(self, store: dict[str, Any], op: str, sample: str, value: str = "") -> None:
        """Write ``value`` to ``sample`` (or soft-delete it); returns once it committed."""
        assert self.process.stdin is not None and self.process.stdout is not None
        job = {"store": store, "op": op, "sample": sample, "value": value}
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()  # EOF if the worker died
        assert answer.strip() == "done", f"worker failed: {self.log.read_text()[-3000:]}"

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


@contextmanager
def started(logs: Path) -> Iterator[Callable[[float], Worker]]:
    """Start writer processes with skewed clocks; every one is stopped on leaving."""
    pool: list[Worker] = []

    def start(offset_s: float) -> Worker:
        pool.append(Worker(offset_s, logs / f"worker-{len(pool)}.log"))
        return pool[-1]

    try:
        yield start
    finally:
        for worker in pool:
            worker.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[float], Worker]]:
    """Writer processes with skewed clocks, stopped after the test."""
    with started(tmp_path) as start:
        yield start


def _serve() -> None:
    """The worker's loop: one JSON job a line on stdin, ``done`` on stdout after each."""
    root, _ = features()
    stores: dict[str, mxl.LakeStore] = {}
    for line in sys.stdin:
        job = json.loads(line)
        key = json.dumps(job["store"], sort_keys=True)
        store = stores.setdefault(key, mxl.LakeStore(**job["store"]))
        sample, value = job["sample"], job["value"]
        if job["op"] == "write":
            store.write(root, root_rows({sample: {"a": value}}, value=[value]))
        else:
            store.delete(root, nw.col("sample_uid") == sample)
        print("done", flush=True)


def _live(store: mxl.LakeStore, feature: type[mxl.Feature]) -> dict[str, str | None]:
    rows = store.read(feature).collect().to_polars()
    return dict(zip(rows["sample_uid"].to_list(), rows["value"].to_list(), strict=True))


def _both_orders_of_skew(
    store: mxl.LakeStore, store_kwargs: dict[str, Any], workers: Callable[[float], Worker]
) -> None:
    """s1 written fast then slow, s2 slow then fast; soft deletes likewise (s3, s4)."""
    root, leaf = features()
    fast, slow = workers(TEN_MINUTES), workers(-TEN_MINUTES)
    fast.run(store_kwargs, "write", "s1", "old")
    slow.run(store_kwargs, "write", "s2", "old")
    store.write(leaf, store.resolve_update(leaf).new.collect())  # computed from the "old"s
    slow.run(store_kwargs, "write", "s1", "new")
    fast.run(store_kwargs, "write", "s2", "new")

    assert _live(store, root) == {"s1": "new", "s2": "new"}
    history = store.read(root, include_history=True).collect().to_polars()
    for sample in ("s1", "s2"):
        rows = history.filter(pl.col("sample_uid") == sample).sort("metaxy_created_at")
        assert rows["value"].to_list() == ["old", "new"]
    # each write commit records the time it stamped: newest commit, newest time
    writes = [c for c in store.history(root) if c.operation == "write"]
    stamps = history.sort("metaxy_created_at", descending=True)["metaxy_created_at"]
    assert [c.metadata["metaxy.created_at"] for c in writes] == [
        t.isoformat(timespec="microseconds") for t in stamps
    ]
    stale = store.resolve_update(leaf).stale.collect().to_polars()
    assert sorted(stale["sample_uid"]) == ["s1", "s2"]  # computed from the "old"s
    lineage = store.lineage(root, ["s1", "s2"]).to_polars()
    assert [v["value"] for v in lineage["values"]] == ["new", "new"]

    # a slow deleter after a fast writer (s3), a fast one after a slow writer (s4)
    fast.run(store_kwargs, "write", "s3", "gone")
    slow.run(store_kwargs, "write", "s4", "gone")
    slow.run(store_kwargs, "delete", "s3")
    fast.run(store_kwargs, "delete", "s4")
    assert _live(store, root) == {"s1": "new", "s2": "new"}
    deleted = store.read(root, include_deleted=True).collect().to_polars()
    assert deleted.filter(pl.col("metaxy_deleted_at").is_not_null()).height == 2
    slow.run(store_kwargs, "write", "s3", "back")  # a write after the delete revives it
    assert _live(store, root) == {"s1": "new", "s2": "new", "s3": "back"}


@pytest.mark.locations("local")
def test_a_later_commit_is_live_whatever_the_clocks(
    store: mxl.LakeStore, store_kwargs: dict[str, Any], workers: Callable[[float], Worker]
) -> None:
    _both_orders_of_skew(store, store_kwargs, workers)


@pytest.mark.slow  # ~15 s a format on SeaweedFS
@pytest.mark.locations("s3")
def test_a_later_commit_is_live_whatever_the_clocks_on_s3(
    store: mxl.LakeStore, store_kwargs: dict[str, Any], workers: Callable[[float], Worker]
) -> None:
    _both_orders_of_skew(store, store_kwargs, workers)


def test_the_write_clock_stays_after_a_time_it_was_given() -> None:
    # 50 ms ahead: further would leave this process's clock ahead for the next tests
    ahead = now_utc() + dt.timedelta(milliseconds=50)
    assert now_utc(after=ahead) > ahead
    assert now_utc() > ahead  # and the process's next times too


def test_iceberg_history_is_in_commit_order_whatever_the_snapshot_clocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyiceberg stamps a snapshot with its writer's clock: history orders by sequence."""
    root, _ = features()
    store = mxl.LakeStore(tmp_path / "store", format="iceberg")
    first = store.write(root, root_rows({"s1": {"a": "x"}}, value=["1"]))
    true_time = iceberg_snapshots.time.time
    behind = types.SimpleNamespace(time=lambda: true_time() - TEN_MINUTES)
    monkeypatch.setattr(iceberg_snapshots, "time", behind)  # the next snapshot's writer
    second = store.write(root, root_rows({"s1": {"a": "y"}}, value=["2"]))
    monkeypatch.undo()
    assert [c.write_id for c in store.history(root)][:2] == [second.write_id, first.write_id]
    assert _live(store, root) == {"s1": "2"}


def test_the_floor_is_the_newest_recorded_stamp_else_the_commit_time() -> None:
    at = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)

    def record(minutes: int, created_at: str | None) -> CommitRecord:
        metadata = {} if created_at is None else {"metaxy.created_at": created_at}
        return CommitRecord(1, at + dt.timedelta(minutes=minutes), "write", 1, metadata)

    recorded = (at + dt.timedelta(minutes=30)).isoformat(timespec="microseconds")
    assert newest_stamp([record(0, recorded), record(10, None)]) == at + dt.timedelta(minutes=30)
    assert newest_stamp([record(0, None), record(10, None)]) == at + dt.timedelta(minutes=10)
    # a value that is no aware time (a damaged commit) counts as the commit's time
    assert newest_stamp([record(5, "not a time"), record(1, "2026-06-01T12:00:00")]) == (
        at + dt.timedelta(minutes=5)
    )
    assert newest_stamp([]) is None


STEPS = st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(["s1", "s2", "s3"]), st.booleans()),
    min_size=1,
    max_size=8,
)


@pytest.mark.slow
@given(
    offsets=st.lists(st.integers(-TEN_MINUTES, TEN_MINUTES), min_size=3, max_size=3), steps=STEPS
)
@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_the_live_row_of_each_sample_is_the_last_committed(
    store_kwargs: dict[str, Any],
    tmp_path: Path,
    offsets: list[int],
    steps: list[tuple[int, str, bool]],
) -> None:
    """Writers 0-2 with random clocks write or delete samples in turn; an independent
    model keeps the last committed value of each sample (a fresh store per example)."""
    root, _ = features()
    fresh = uuid.uuid4().hex
    kwargs = {**store_kwargs, "root": f"{store_kwargs['root']}-{fresh}"}
    if "catalog" in kwargs:  # Iceberg names tables by catalog and key, not by root
        kwargs["catalog"] = {"type": "sql", "uri": f"sqlite:///{tmp_path / fresh}.db"}
    model: dict[str, str] = {}
    with started(tmp_path) as start:
        pool = [start(offset) for offset in offsets]
        for index, (writer, sample, deletes) in enumerate(steps):
            if deletes:
                pool[writer].run(kwargs, "delete", sample)
                model.pop(sample, None)
            else:
                pool[writer].run(kwargs, "write", sample, f"v{index}")
                model[sample] = f"v{index}"
    assert _live(mxl.LakeStore(**kwargs), root) == model


if __name__ == "__main__":
    _serve()
