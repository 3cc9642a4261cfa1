"""resolve_update's filters, global filters, staleness predicates and shards.

Filters and shards are applied by DuckDB on top of the format's scan (nothing is pushed
into the format), so where the table lives cannot change them: these run on local disk
only, on every format (S3 reads are covered by the scenario, format and S3 suites).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import narwhals as nw
import pytest
from helpers import increment_ids, root_rows, write_increment

import metaxy_lake as mxl

pytestmark = pytest.mark.locations("local")

UIDS = [f"s{i:02d}" for i in range(40)]


@pytest.fixture
def features(graph: mxl.FeatureGraph):
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["x"])):
        split: str

    class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["x"])):
        split: str
        score: float | None = None

    return Root, Leaf


@pytest.fixture
def seeded(store: mxl.LakeStore, features):
    root, leaf = features
    store.write(
        root,
        root_rows(
            {u: {"x": u} for u in UIDS}, split=["train" if i % 2 else "test" for i in range(40)]
        ),
    )
    return store, root, leaf


def test_dep_filters_restrict_new_samples(seeded) -> None:
    store, root, leaf = seeded
    inc = store.resolve_update(leaf, filters={root: nw.col("split") == "train"})
    new, _, _ = increment_ids(inc)
    assert new == {u for i, u in enumerate(UIDS) if i % 2}
    # filters can be keyed by feature key too
    by_key = store.resolve_update(leaf, filters={"root": [nw.col("split") == "train"]})
    assert increment_ids(by_key) == increment_ids(inc)


def test_target_filters_hide_filtered_out_rows(seeded) -> None:
    store, root, leaf = seeded
    write_increment(store, leaf, score=1.0)
    store.write(root, root_rows({u: {"x": "changed"} for u in UIDS}, split=["train"] * 40))
    assert store.resolve_update(leaf).counts()["stale"] == 40
    only = store.resolve_update(leaf, filters={leaf: nw.col("sample_uid") < "s10"})
    assert increment_ids(only) == (set(), set(UIDS[:10]), set())


def test_global_filters_apply_to_deps_and_target(seeded) -> None:
    store, root, leaf = seeded
    write_increment(store, leaf, score=1.0)
    store.delete(root, nw.col("sample_uid").is_in(UIDS[:4]))
    inc = store.resolve_update(leaf, global_filters=nw.col("split") == "train")
    _, _, orphaned = increment_ids(inc)
    assert orphaned == {u for i, u in enumerate(UIDS[:4]) if i % 2}


def test_filters_must_name_the_target_or_a_dep(seeded, graph) -> None:
    store, _, leaf = seeded

    class Other(mxl.Feature, spec=mxl.FeatureSpec(key="other")):
        pass

    with pytest.raises(mxl.UnknownFeatureError, match="other"):
        store.resolve_update(leaf, filters={Other: nw.col("sample_uid") == "x"})
    with pytest.raises(mxl.UnknownFeatureError, match="no/such"):
        store.resolve_update(leaf, filters={"no/such": nw.col("sample_uid") == "x"})


def test_staleness_predicates_mark_current_rows_stale(seeded) -> None:
    store, _, leaf = seeded
    write_increment(store, leaf, score=0.5)
    assert store.resolve_update(leaf).is_empty
    inc = store.resolve_update(
        leaf, staleness_predicates=[nw.col("sample_uid") == "s03", nw.col("sample_uid") == "s07"]
    )
    assert increment_ids(inc) == (set(), {"s03", "s07"}, set())
    assert inc.stale.collect().to_polars()["metaxy_changed_fields"].to_list() == [[], []]
    none = store.resolve_update(leaf, staleness_predicates=nw.col("score") > 1)
    assert none.is_empty


def expected_shard(uid: str, count: int) -> int:
    return int(hashlib.md5(uid.encode()).hexdigest()[:15], 16) % count


def test_shards_are_disjoint_and_cover_the_whole(seeded) -> None:
    store, _, leaf = seeded
    whole = increment_ids(store.resolve_update(leaf))[0]
    parts = [increment_ids(store.resolve_update(leaf, shard=(i, 3)))[0] for i in range(3)]
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == len(whole)
    for i, part in enumerate(parts):
        assert all(expected_shard(u, 3) == i for u in part)


def test_shard_of_multi_column_ids(graph, store) -> None:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r", id_columns=["video", "frame"])):
        pass

    class D(mxl.Feature, spec=mxl.FeatureSpec(key="d", deps=[R], id_columns=["video", "frame"])):
        pass

    import polars as pl

    store.write(
        R,
        pl.DataFrame(
            {
                "video": ["v"] * 10,
                "frame": list(range(10)),
                "metaxy_provenance_by_field": [{"default": "p"}] * 10,
            }
        ),
    )
    part = store.resolve_update(D, shard=(1, 2)).new.collect().to_polars()
    for row in part.iter_rows(named=True):
        text = f"{row['video']}|{row['frame']}"
        assert int(hashlib.md5(text.encode()).hexdigest()[:15], 16) % 2 == 1


def test_shard_assignment_is_the_same_in_another_process(seeded, store_kwargs) -> None:
    store, _, leaf = seeded
    kwargs = {**store_kwargs, "root": store.root}
    mine = sorted(increment_ids(store.resolve_update(leaf, shard=(0, 4)))[0])
    script = textwrap.dedent(f"""
        import metaxy_lake as mxl
        g = mxl.FeatureGraph()
        with g.use():
            class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["x"])):
                split: str
            class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["x"])):
                split: str
                score: float | None = None
        store = mxl.LakeStore(**{kwargs!r})
        new = store.resolve_update(Leaf, shard=(0, 4)).new.collect().to_polars()
        print(",".join(sorted(new["sample_uid"].to_list())))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip().split(",") == mine


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0)])
def test_invalid_shard(seeded, shard) -> None:
    store, _, leaf = seeded
    with pytest.raises(ValueError, match="shard"):
        store.resolve_update(leaf, shard=shard)


def test_an_increments_id_names_its_scope_and_the_versions_it_read(seeded) -> None:
    store, root, leaf = seeded
    first = store.resolve_update(leaf)
    assert store.resolve_update(leaf).id == first.id  # nothing changed: the same increment
    ids = {
        store.resolve_update(leaf, shard=(0, 2)).id,
        store.resolve_update(leaf, shard=(1, 2)).id,
        store.resolve_update(leaf, filters={leaf: nw.col("split") == "test"}).id,
        first.id,
    }
    assert len(ids) == 4
    store.write(root, root_rows({"s00": {"x": "changed"}}, split=["test"]))
    assert store.resolve_update(leaf).id != first.id  # a commit to a table read


def test_todo_holds_new_and_stale_with_their_status_and_shard_counts_split_it(seeded) -> None:
    store, root, leaf = seeded
    write_increment(store, leaf, split="x")
    store.write(root, root_rows({u: {"x": "v2"} for u in UIDS[:5]}, split=["test"] * 5))
    store.write(root, root_rows({"new1": {"x": "n"}, "new2": {"x": "n"}}, split=["a", "b"]))
    inc = store.resolve_update(leaf)
    todo = inc.todo().collect().to_polars()
    assert todo.group_by("metaxy_status").len().sort("metaxy_status").rows() == [
        ("new", 2),
        ("stale", 5),
    ]
    new = todo.filter(todo["metaxy_status"] == "new")
    assert new["metaxy_changed_fields"].to_list() == [None, None]
    stale = inc.todo(("stale",)).collect().to_polars()
    assert stale["metaxy_changed_fields"].to_list() == [["x"]] * 5
    counts = inc.shard_counts(3)
    parts = [store.resolve_update(leaf, shard=(i, 3)).counts() for i in range(3)]
    assert counts == [p["new"] + p["stale"] for p in parts] and sum(counts) == 7
    with pytest.raises(mxl.InvalidShardError):
        inc.shard_counts(0)
    with pytest.raises(mxl.InvalidKindError, match="kinds"):
        inc.todo(("orphaned",))
    with pytest.raises(mxl.InvalidKindError, match="kinds"):
        inc.shard_counts(2, ())


def test_a_resolve_scope_is_the_keyword_arguments_as_one_value(seeded) -> None:
    store, root, leaf = seeded
    write_increment(store, leaf, score=1.0)
    store.write(root, root_rows({u: {"x": "v2"} for u in UIDS[:20]}, split=["train"] * 20))
    keywords = {
        "filters": {root: nw.col("sample_uid") < "s15"},
        "global_filters": nw.col("split") == "train",
        "staleness_predicates": nw.col("sample_uid") == "s30",
        "shard": (1, 2),
    }
    scope = mxl.ResolveScope.of(**keywords)
    by_keywords = store.resolve_update(leaf, **keywords)
    by_scope = store.resolve_update(leaf, scope=scope)
    assert increment_ids(by_scope) == increment_ids(by_keywords)
    assert by_scope.id == by_keywords.id  # the same scope, rendered alike
    assert by_scope.counts() != store.resolve_update(leaf).counts()
    before = store.history(leaf)
    with pytest.raises(mxl.ScopeArgumentsError, match="either scope= or"):
        store.resolve_update(leaf, scope=scope, shard=(0, 2))
    assert store.history(leaf) == before
    with pytest.raises(mxl.InvalidShardError):
        scope.with_shard((2, 2))


def test_shards_of_a_window_filter_add_up_to_the_whole(seeded) -> None:
    store, root, leaf = seeded
    window = nw.col("sample_uid").cum_count().over(order_by="sample_uid") <= 5
    whole = increment_ids(store.resolve_update(leaf, filters={root: window}))[0]
    parts = [
        increment_ids(store.resolve_update(leaf, filters={root: window}, shard=(i, 4)))[0]
        for i in range(4)
    ]
    assert len(whole) == 5 and set().union(*parts) == whole
    assert sum(len(p) for p in parts) == 5


def test_a_roots_increment_id_names_the_samples_it_was_given(seeded) -> None:
    store, root, _ = seeded
    samples = root_rows({u: {"x": u} for u in UIDS[:3]}, split=["a"] * 3)
    other = root_rows({u: {"x": "changed"} for u in UIDS[:3]}, split=["a"] * 3)
    first = store.resolve_update(root, samples=samples).id
    assert store.resolve_update(root, samples=samples).id == first
    assert store.resolve_update(root, samples=other).id != first
