"""Clock skew: a later commit is live whatever the writers' clocks say.

Writers are real processes whose system clock is set off by ``METAXY_LAKE_CLOCK_OFFSET_S``
(read by ``metaxy_lake.ids``: everything else is the production path). They stamp after
the newest commits they saw (docs/on-disk-format.md, section 5), so a write that starts
after another's commit returned is live over it. The test process itself never writes a
skewed row: its write clock must stay true for the next tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
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

import metaxy_lake as mxl
from metaxy_lake.failpoints import CLOCK_OFFSET_ENV

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


def _write_leaf(store: mxl.LakeStore, leaf: type[mxl.Feature]) -> None:
    store.write(leaf, store.resolve_update(leaf).new.collect())


@pytest.mark.parametrize(
    "first_offset", [TEN_MINUTES, -TEN_MINUTES], ids=["fast-first", "slow-first"]
)
def test_the_later_commit_is_live_whatever_the_clocks(
    store: mxl.LakeStore,
    store_kwargs: dict[str, Any],
    workers: Callable[[float], Worker],
    first_offset: int,
) -> None:
    root, leaf = features()
    first, second = workers(first_offset), workers(-first_offset)
    first.run(store_kwargs, "write", "s1", "old")
    _write_leaf(store, leaf)  # computed from "old"
    second.run(store_kwargs, "write", "s1", "new")

    assert _live(store, root) == {"s1": "new"}
    history = store.read(root, include_history=True).collect().to_polars().sort("metaxy_created_at")
    assert history["value"].to_list() == ["old", "new"]
    commits = store.history(root)  # newest first, each with the time it stamped
    stamped = [c.metadata["metaxy.created_at"] for c in commits if c.operation == "write"]
    assert stamped == [
        str(t.isoformat(timespec="microseconds")) for t in history["metaxy_created_at"].reverse()
    ]

    stale = store.resolve_update(leaf).stale.collect().to_polars()
    assert stale["sample_uid"].to_list() == ["s1"]  # the leaf was computed from "old"
    (start,) = store.lineage(root, ["s1"]).to_polars().iter_rows(named=True)
    assert start["values"]["value"] == "new"


@pytest.mark.parametrize(
    "offset", [TEN_MINUTES, -TEN_MINUTES], ids=["fast-deleter", "slow-deleter"]
)
def test_a_soft_delete_after_a_write_deletes_whatever_the_clocks(
    store: mxl.LakeStore,
    store_kwargs: dict[str, Any],
    workers: Callable[[float], Worker],
    offset: int,
) -> None:
    root, _ = features()
    writer, deleter = workers(-offset), workers(offset)
    writer.run(store_kwargs, "write", "s1", "kept?")
    writer.run(store_kwargs, "write", "s2", "kept")
    deleter.run(store_kwargs, "delete", "s1")
    assert _live(store, root) == {"s2": "kept"}
    deleted = store.read(root, include_deleted=True).collect().to_polars()
    assert deleted.filter(pl.col("sample_uid") == "s1")["metaxy_deleted_at"].null_count() == 0
    writer.run(store_kwargs, "write", "s1", "back")  # and a write after the delete revives it
    assert _live(store, root) == {"s1": "back", "s2": "kept"}


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
    make_store: Callable[..., mxl.LakeStore],
    store_kwargs: dict[str, Any],
    tmp_path: Path,
    offsets: list[int],
    steps: list[tuple[int, str, bool]],
) -> None:
    """Writers 0-2 with random clocks write or delete samples in turn; an independent
    model keeps the last committed value of each sample (a fresh store per example)."""
    root, _ = features()
    kwargs = {**store_kwargs, "root": f"{store_kwargs['root']}-{uuid.uuid4().hex}"}
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
    assert _live(make_store(kwargs["root"]), root) == model


if __name__ == "__main__":
    _serve()
