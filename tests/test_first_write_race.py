"""Concurrent writers, racing on a table's first write too, all succeed.

See docs/design.md, Writes and deletes.

Four processes wait at a barrier, then each appends 8 batches of 500 rows (with write
ids) to a store where no table exists yet: they race to create it (and, on Iceberg, a
fresh SQLite catalog), then keep committing against each other. Every batch lands exactly
once and no writer sees an error, on every format and location. (The full-scale run,
8 writers x 20 commits on S3, is ``test_s3.test_concurrent_writers_at_full_scale``.)
"""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_s3 import batches
from workers import race_first_writes

import metaxy_lake as mxl

WRITERS, WRITES, ROWS = 4, 8, 500


def fresh_stores(store_kwargs: dict[str, Any], tmp_path: Path, rounds: int) -> list[dict[str, Any]]:
    out = []
    for i in range(rounds):
        kwargs = dict(store_kwargs)
        if kwargs["root"].startswith("s3://"):
            kwargs["root"] = f"{kwargs['root']}/{uuid.uuid4().hex}"
            if "catalog" in kwargs:  # a fresh SQLite catalog file too
                kwargs["catalog"] = {"type": "sql", "uri": f"sqlite:///{tmp_path}/cat{i}.db"}
        else:
            kwargs["root"] = str(tmp_path / f"round{i}")
        out.append(kwargs)
    return out


def race(store_kwargs: dict[str, Any], tmp_path: Path, rounds: int) -> None:
    stores = fresh_stores(store_kwargs, tmp_path, rounds)
    spawn = multiprocessing.get_context("spawn")  # delta-rs is not fork-safe
    barrier = spawn.Barrier(WRITERS)
    processes = [
        spawn.Process(target=race_first_writes, args=(stores, w, barrier, WRITES, ROWS))
        for w in range(WRITERS)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=600)
    assert [p.exitcode for p in processes] == [0] * WRITERS  # no error reached any writer
    for kwargs in stores:
        found = batches(mxl.LakeStore(**kwargs))
        assert found == {(w, s): ROWS for w in range(WRITERS) for s in range(WRITES)}


def test_writers_racing_on_the_first_write_all_land(store_kwargs, tmp_path) -> None:
    race(store_kwargs, tmp_path, rounds=1)  # ten rounds in the slow stage


@pytest.mark.slow
def test_writers_racing_on_the_first_write_all_land_many_times(store_kwargs, tmp_path) -> None:
    race(store_kwargs, tmp_path, rounds=10)
