"""Serverless on S3: concurrent writers, idempotent retries, crashes, credentials.

Runs against the session's SeaweedFS server, for every selected format.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import s3fs
from s3server import READER, S3Server
from workers import batch, batch_feature, write_batches

import metaxy_lake as mxl
from metaxy_lake.failpoints import (
    ENV,
    WRITE_AFTER_COMMIT,
    WRITE_AFTER_DATA_FILES,
    WRITE_BEFORE_DATA_FILES,
    FailpointError,
)

WORKERS = Path(__file__).with_name("workers.py")


pytestmark = pytest.mark.locations("s3")


def bucket_state(server: S3Server, prefix: str) -> dict[str, str]:
    fs = s3fs.S3FileSystem(
        skip_instance_cache=True,
        **{
            "key": server.options()["access_key_id"],
            "secret": server.options()["secret_access_key"],
            "client_kwargs": {"endpoint_url": server.endpoint, "region_name": "us-east-1"},
        },
    )
    try:
        found = fs.find(prefix.removeprefix("s3://"), detail=True)
    except FileNotFoundError:
        return {}
    return {k: str(v.get("ETag")) for k, v in found.items()}


def batches(store: mxl.LakeStore) -> dict[tuple[int, int], int]:
    rows = store.read(batch_feature()).collect().to_polars()
    counts = rows.group_by("writer", "seq").len()
    return {(r["writer"], r["seq"]): r["len"] for r in counts.iter_rows(named=True)}


def concurrent_writes(store_kwargs: dict[str, Any], writers: int, writes: int, rows: int) -> None:
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(writers, mp_context=spawn) as pool:
        done = list(
            pool.map(
                write_batches,
                [store_kwargs] * writers,
                range(writers),
                [writes] * writers,
                [rows] * writers,
            )
        )
    assert done == [writes] * writers  # no error reached any caller
    store = mxl.LakeStore(**store_kwargs)
    assert batches(store) == {(w, s): rows for w in range(writers) for s in range(writes)}
    assert store.read(batch_feature()).collect().to_polars().height == writers * writes * rows


@pytest.mark.slow
def test_concurrent_writers_at_full_scale(store_kwargs) -> None:
    concurrent_writes(store_kwargs, writers=8, writes=20, rows=1000)


def test_retry_after_unknown_outcome_lands_once(make_store, monkeypatch) -> None:
    store, feature = make_store(), batch_feature()
    monkeypatch.setenv(ENV, f"{WRITE_AFTER_COMMIT}:raise")  # committed, then the client failed
    with pytest.raises(FailpointError):
        store.write(feature, batch(0, 0, 10), write_id="once")
    monkeypatch.delenv(ENV)
    retried = store.write(feature, batch(0, 0, 10), write_id="once")
    assert retried.replayed and retried.rows == 10
    assert batches(store) == {(0, 0): 10}
    assert [c.write_id for c in store.history(feature)].count("once") == 1


@pytest.mark.parametrize(
    ("point", "landed"),
    [(WRITE_BEFORE_DATA_FILES, False), (WRITE_AFTER_DATA_FILES, False), (WRITE_AFTER_COMMIT, True)],
)
def test_writer_killed_at_a_failpoint(store_kwargs, point, landed) -> None:
    store = mxl.LakeStore(**store_kwargs)
    store.write(batch_feature(), batch(0, 0, 5))
    env = {**os.environ, ENV: point}
    done = subprocess.run(
        [sys.executable, str(WORKERS), repr(store_kwargs), "1", "1", "100"],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    expected = {(0, 0): 5, **({(1, 0): 100} if landed else {})}
    assert batches(store) == expected  # readable; the batch wholly there or wholly absent
    write_batches(store_kwargs, 2, 1, 7)  # the next writer succeeds
    assert batches(store) == {**expected, (2, 0): 7}


KILL_SEED = 20261201


def test_writer_killed_at_a_random_moment(store_kwargs) -> None:
    """Kill a writer at a seeded moment after its first batch landed, before its last."""
    writes = 50
    store = mxl.LakeStore(**store_kwargs)
    store.write(batch_feature(), batch(0, 0, 5))
    process = subprocess.Popen(
        [sys.executable, str(WORKERS), repr(store_kwargs), "1", str(writes), "300"],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not any(key[0] == 1 for key in batches(store)):  # the writer is under way
        assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the writer landed nothing in 120 s"
        time.sleep(0.05)
    time.sleep(random.Random(KILL_SEED).uniform(0.0, 0.5))  # somewhere inside a later batch
    process.kill()
    process.wait(timeout=60)
    found = batches(store)
    landed = [key for key in found if key[0] == 1]
    assert 0 < len(landed) < writes, f"the kill was not mid-run: {len(landed)} batches landed"
    assert all(found[key] == 300 for key in landed)  # each batch wholly there or absent
    assert sorted(landed) == [(1, s) for s in range(len(landed))]  # in order, no gap
    write_batches(store_kwargs, 2, 1, 7)
    assert batches(store)[(2, 0)] == 7


def test_wrong_credentials_fail_fast_naming_the_store(store_kwargs) -> None:
    kwargs = {
        **store_kwargs,
        "storage_options": {**store_kwargs["storage_options"], "secret_access_key": "wrong"},
    }
    store = mxl.LakeStore(**kwargs)
    start = time.monotonic()
    with pytest.raises(mxl.StorageAccessError) as err:
        store.write(batch_feature(), batch(0, 0, 3))
    assert time.monotonic() - start < 60
    assert store.root in str(err.value) and "wrong" not in str(err.value)


def test_read_only_store_sends_no_changing_request(store_kwargs, s3_server) -> None:
    writer = mxl.LakeStore(**store_kwargs)
    writer.write(batch_feature(), batch(0, 0, 5))
    before = bucket_state(s3_server, writer.root)
    reader = mxl.LakeStore(**{**store_kwargs, "read_only": True})
    with pytest.raises(mxl.ReadOnlyStoreError):
        reader.write(batch_feature(), batch(1, 0, 5))
    assert bucket_state(s3_server, writer.root) == before
    assert batches(reader) == {(0, 0): 5}


def test_read_only_identity_fails_clearly_and_changes_nothing(store_kwargs, s3_server) -> None:
    writer = mxl.LakeStore(**store_kwargs)
    writer.write(batch_feature(), batch(0, 0, 5))
    before = bucket_state(s3_server, writer.root)
    reader = mxl.LakeStore(**{**store_kwargs, "storage_options": s3_server.options(READER)})
    assert batches(reader) == {(0, 0): 5}  # it may read
    with pytest.raises(mxl.StorageAccessError, match=r"mxlreader.*(?i:denied|forbidden|403)"):
        reader.write(batch_feature(), batch(1, 0, 5))
    assert bucket_state(s3_server, writer.root) == before


def test_two_stores_with_different_identities_in_one_process(store_kwargs, s3_server) -> None:
    admin = mxl.LakeStore(**store_kwargs)
    admin.write(batch_feature(), batch(0, 0, 2))
    reader = mxl.LakeStore(**{**store_kwargs, "storage_options": s3_server.options(READER)})
    other = mxl.LakeStore(
        **{
            **store_kwargs,
            "root": f"s3://{s3_server.bucket}/{uuid.uuid4()}",
            **({"namespace": "other"} if "catalog" in store_kwargs else {}),
        }
    )
    other.write(batch_feature(), batch(9, 0, 1))
    assert batches(reader) == {(0, 0): 2} and batches(other) == {(9, 0): 1}


def test_environment_supplies_storage_options(store_kwargs, s3_server, monkeypatch) -> None:
    options = store_kwargs["storage_options"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", options["endpoint_url"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", options["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", options["secret_access_key"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    kwargs = {k: v for k, v in store_kwargs.items() if k != "storage_options"}
    store = mxl.LakeStore(**kwargs)
    store.write(batch_feature(), batch(3, 0, 4))
    assert batches(store) == {(3, 0): 4}
