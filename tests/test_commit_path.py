"""The one commit path: unknown outcomes resolved from history, conflicts until a deadline.

Failpoints inject the failures inside the real commit path of every format, on local disk
and on S3 (``METAXY_LAKE_FAILPOINT``, comma-separated for several).
"""

from __future__ import annotations

import pytest
from helpers import table_state
from workers import batch, batch_feature

import metaxy_lake as mxl
from metaxy_lake.failpoints import (
    COMMIT_AFTER_LANDED,
    COMMIT_CONFLICT,
    COMMIT_HISTORY_UNREADABLE,
    ENV,
    WRITE_AFTER_COMMIT,
    FailpointError,
)


def landed_batches(store: mxl.LakeStore, feature) -> list[tuple[int, int]]:
    rows = store.read(feature).collect().to_polars()
    return sorted(set(zip(rows["writer"], rows["seq"], strict=True)))


def test_an_unknown_outcome_that_landed_is_resolved_from_history(store, monkeypatch) -> None:
    feature = batch_feature()
    store.write(feature, batch(0, 0, 3))
    monkeypatch.setenv(ENV, f"{COMMIT_AFTER_LANDED}:raise")
    result = store.write(feature, batch(1, 0, 4))  # no error reaches the caller
    monkeypatch.delenv(ENV)
    assert result.rows == 4 and result.version is not None and not result.replayed
    assert landed_batches(store, feature) == [(0, 0), (1, 0)]
    assert store.read(feature).collect().to_polars().height == 7  # the batch landed once
    ours = [c for c in store.history(feature) if c.write_id == result.write_id]
    assert [c.version for c in ours] == [result.version]


def test_an_unknown_outcome_with_unreadable_history_reaches_the_caller(store, monkeypatch) -> None:
    feature = batch_feature()
    store.write(feature, batch(0, 0, 3))
    monkeypatch.setenv(ENV, f"{COMMIT_AFTER_LANDED}:raise,{COMMIT_HISTORY_UNREADABLE}:raise")
    with pytest.raises(mxl.CommitStateUnknownError, match=r"history cannot be read.*write_id="):
        store.write(feature, batch(1, 0, 4))
    monkeypatch.delenv(ENV)
    # it did land; a retry with the same write id would find it (history is readable again)
    assert landed_batches(store, feature) == [(0, 0), (1, 0)]


def test_a_failure_after_the_commit_path_reaches_the_caller(store, monkeypatch) -> None:
    feature = batch_feature()
    monkeypatch.setenv(ENV, f"{WRITE_AFTER_COMMIT}:raise")
    with pytest.raises(FailpointError):
        store.write(feature, batch(0, 0, 3), write_id="w")
    monkeypatch.delenv(ENV)
    assert store.write(feature, batch(0, 0, 3), write_id="w").replayed


@pytest.mark.locations("local")  # the deadline is ours, not the storage's
def test_conflicts_until_the_deadline_raise_and_commit_nothing(make_store, monkeypatch) -> None:
    store = make_store(commit_timeout_s=0.3)
    feature = batch_feature()
    store.write(feature, batch(0, 0, 3))
    before = table_state(store, feature)
    monkeypatch.setenv(ENV, f"{COMMIT_CONFLICT}:raise")
    with pytest.raises(mxl.CommitConflictError, match=r"still conflicting after 0\.3 s"):
        store.write(feature, batch(1, 0, 4))
    monkeypatch.delenv(ENV)
    assert table_state(store, feature) == before
    assert landed_batches(store, feature) == [(0, 0)]
