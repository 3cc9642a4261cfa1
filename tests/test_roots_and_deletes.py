"""Roots resolved against samples, soft and hard deletes, reads."""

from __future__ import annotations

import gc

import narwhals as nw
import polars as pl
import pytest
from helpers import as_dict, ids, increment_ids, root_rows, write_increment

import metaxy_lake as mxl


@pytest.fixture
def chain(graph: mxl.FeatureGraph) -> tuple[type[mxl.Feature], type[mxl.Feature]]:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a", "b"])):
        label: str | None = None

    class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["a"])):
        pass

    return Root, Leaf


def test_root_samples_new_stale_orphaned(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    store.write(
        root,
        root_rows(
            {"s1": {"a": "1", "b": "1"}, "s2": {"a": "2", "b": "2"}, "s3": {"a": "3", "b": "3"}}
        ),
    )
    samples = root_rows(
        {
            "s1": {"a": "1", "b": "1"},  # unchanged
            "s2": {"a": "2", "b": "CHANGED"},  # stale on b
            "s4": {"a": "4", "b": "4"},
        },  # new; s3 is orphaned
        label=["x", "y", "z"],
    )
    inc = store.resolve_update(root, samples=samples)
    assert increment_ids(inc) == ({"s4"}, {"s2"}, {"s3"})
    stale = inc.stale.collect().to_polars().row(0, named=True)
    assert stale["metaxy_changed_fields"] == ["b"]
    assert stale["label"] == "y"  # the samples' own columns ride along
    # the new and stale rows can be written as they are
    store.write(
        root,
        pl.concat(
            [inc.new.collect().to_polars(), inc.stale.collect().to_polars()], how="diagonal_relaxed"
        ),
    )
    assert store.resolve_update(root, samples=samples).counts() == {
        "new": 0,
        "stale": 0,
        "orphaned": 1,
    }


def test_root_without_samples_has_nothing_to_resolve(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    store.write(root, root_rows({"s1": {"a": "1", "b": "1"}}))
    assert store.resolve_update(root).is_empty


def test_root_samples_with_struct_and_integer_ids(graph: mxl.FeatureGraph, store) -> None:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r", id_columns=["n"], fields=["x"])):
        pass

    store.write(
        R,
        pl.DataFrame(
            {
                "n": pl.Series([1, 2], dtype=pl.Int32),
                "metaxy_provenance_by_field": [{"x": "1"}, {"x": "2"}],
            }
        ),
    )
    samples = pl.DataFrame({"n": [2, 3], "metaxy_provenance_by_field": [{"x": "2"}, {"x": "3"}]})
    inc = store.resolve_update(R, samples=samples)
    assert inc.counts() == {"new": 1, "stale": 0, "orphaned": 1}
    assert inc.new.collect().to_polars()["n"].to_list() == [3]


def test_soft_delete_orphans_downstream_and_comes_back_new(store: mxl.LakeStore, chain) -> None:
    root, leaf = chain
    store.write(root, root_rows({"s1": {"a": "1", "b": "1"}, "s2": {"a": "2", "b": "2"}}))
    write_increment(store, leaf)
    result = store.delete(root, nw.col("sample_uid") == "s1")
    assert result.rows == 1 and result.version is not None
    assert increment_ids(store.resolve_update(leaf)) == (set(), set(), {"s1"})

    # the downstream row is deleted too: then nothing is left
    store.delete(leaf, nw.col("sample_uid") == "s1")
    assert store.resolve_update(leaf).is_empty

    # the upstream comes back: the deleted downstream sample is new again
    store.write(root, root_rows({"s1": {"a": "1", "b": "1"}}))
    assert increment_ids(store.resolve_update(leaf)) == ({"s1"}, set(), set())


def test_reads_live_deleted_and_history(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    store.write(
        root,
        root_rows({"s1": {"a": "1", "b": "1"}, "s2": {"a": "2", "b": "2"}}, label=["one", "two"]),
    )
    store.write(root, root_rows({"s2": {"a": "2", "b": "22"}}, label=["two!"]))
    store.delete(root, nw.col("sample_uid") == "s1")

    assert ids(store.read(root)) == {"s2"}
    assert store.read(root).collect().to_polars()["label"].to_list() == ["two!"]
    deleted = store.read(root, include_deleted=True).collect().to_polars()
    assert set(deleted["sample_uid"]) == {"s1", "s2"}
    tomb = deleted.filter(pl.col("sample_uid") == "s1").row(0, named=True)
    assert tomb["label"] is None and tomb["metaxy_deleted_at"] is not None
    assert tomb["metaxy_deleted_at"] == tomb["metaxy_created_at"]
    assert as_dict(tomb["metaxy_provenance_by_field"]) == {"a": "1", "b": "1"}
    assert store.read(root, include_history=True).collect().to_polars().height == 4
    assert store.read(root, columns=["sample_uid"]).collect().columns == ["sample_uid"]
    filtered = store.read(root, filters=[nw.col("label") == "two!", nw.col("sample_uid") == "s2"])
    assert ids(filtered) == {"s2"}


def test_delete_without_match_commits_nothing(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    store.write(root, root_rows({"s1": {"a": "1", "b": "1"}}))
    before = len(store.history(root))
    result = store.delete(root, nw.col("sample_uid") == "nope")
    assert result.rows == 0 and result.version is None
    assert len(store.history(root)) == before


def test_hard_delete_removes_every_row_of_the_sample(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    store.write(root, root_rows({"s1": {"a": "1", "b": "1"}, "s2": {"a": "2", "b": "2"}}))
    store.write(root, root_rows({"s1": {"a": "1", "b": "9"}}))
    result = store.delete(root, nw.col("sample_uid") == "s1", soft=False)
    assert result.rows == 1
    history = store.read(root, include_history=True).collect().to_polars()
    assert history["sample_uid"].to_list() == ["s2"]
    assert store.history(root)[0].operation == "hard_delete"


def test_history_lists_write_ids_and_snapshot_versions(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    result = store.write(root, root_rows({"s1": {"a": "1", "b": "1"}}), write_id="w-1")
    commits = store.history(root)
    assert commits[0].write_id == "w-1" and commits[0].version == result.version
    assert commits[0].snapshot_version == root.graph().snapshot_version()
    assert commits[0].feature_version == root.feature_version()
    assert commits[0].rows == 1 and commits[0].operation == "write"


def test_write_with_a_known_write_id_is_a_no_op(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    first = store.write(root, root_rows({"s1": {"a": "1", "b": "1"}}), write_id="same")
    again = store.write(root, root_rows({"s1": {"a": "1", "b": "1"}}), write_id="same")
    assert again.replayed and again.version == first.version
    assert store.read(root, include_history=True).collect().to_polars().height == 1


def test_later_write_wins(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    for i in range(3):
        store.write(root, root_rows({"s1": {"a": str(i), "b": "b"}}, label=[str(i)]))
    assert store.read(root).collect().to_polars()["label"].to_list() == ["2"]


def test_increment_frames_outlive_the_increment(store: mxl.LakeStore, chain) -> None:
    root, leaf = chain
    store.write(root, root_rows({f"s{i}": {"a": str(i), "b": "x"} for i in range(5)}))
    new = store.resolve_update(leaf).new  # the Increment itself is dropped here
    gc.collect()
    store.resolve_update(leaf)  # another increment in the same store
    assert sorted(new.collect().to_polars()["sample_uid"]) == [f"s{i}" for i in range(5)]


def test_large_write_spans_files_and_reads_back_whole(store: mxl.LakeStore, chain) -> None:
    root, _ = chain
    n = 2 * 128 * 1024 + 7  # more rows than two row groups
    rows = pl.DataFrame(
        {
            "sample_uid": [f"s{i:07d}" for i in range(n)],
            "metaxy_provenance_by_field": [{"a": str(i), "b": "x"} for i in range(n)],
        }
    )
    assert store.write(root, rows).rows == n
    read = store.read(root, columns=["sample_uid"]).collect().to_polars()
    assert read.height == n and read["sample_uid"].n_unique() == n
    assert store.resolve_update(root, samples=rows).is_empty
