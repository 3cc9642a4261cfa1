"""Bad input raises a named error and leaves the table exactly as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from helpers import root_rows, table_state

import metaxy_lake as mxl
from metaxy_lake.schema import table_schema


@pytest.fixture
def features(graph: mxl.FeatureGraph):
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a", "b"])):
        n: int
        at: dt.datetime | None = None

    class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["a"])):
        pass

    return Root, Leaf


@pytest.fixture
def seeded(store: mxl.LakeStore, features):
    root, leaf = features
    store.write(root, root_rows({"s1": {"a": "1", "b": "1"}}, n=[1]))
    new = store.resolve_update(leaf).new.collect().to_polars()
    store.write(leaf, new)
    return store, root, leaf


def state(store: mxl.LakeStore, feature: Any) -> tuple[Any, ...]:
    """Latest commit version, row count, and the table's version, schema and properties."""
    commits = store.history(feature)
    rows = store.read(feature, include_history=True).collect().to_polars().height
    return (commits[0].version if commits else None), rows, table_state(store, feature)


def rejected(store, feature, error: type[Exception], match: str, action: Callable[[], Any]):
    before = state(store, feature)
    with pytest.raises(error, match=match):
        action()
    assert state(store, feature) == before


GOOD = {"a": "1", "b": "1"}


@pytest.mark.locations("local")  # validation fails before any request: one location suffices
@pytest.mark.parametrize(
    ("frame", "error", "match"),
    [
        (
            pl.DataFrame({"n": [1], "metaxy_provenance_by_field": [GOOD]}),
            mxl.MissingIdColumnError,
            "sample_uid",
        ),
        (
            pl.DataFrame(
                {
                    "sample_uid": ["s2", None],
                    "n": [1, 2],
                    "metaxy_provenance_by_field": [GOOD, GOOD],
                }
            ),
            mxl.NullIdError,
            "null",
        ),
        (
            root_rows({"s2": GOOD}, n=[1]).vstack(root_rows({"s2": GOOD}, n=[2])),
            mxl.DuplicateSampleError,
            "s2",
        ),
        (root_rows({"s2": GOOD}, n=[1.5]), mxl.ColumnTypeError, "'n'"),
        (root_rows({"s2": GOOD}, n=["1"]), mxl.ColumnTypeError, "'n'"),
        (
            root_rows({"s2": GOOD}, n=pl.Series([2**64 - 1], dtype=pl.UInt64)),
            mxl.ColumnTypeError,
            "'n'",
        ),
        (
            root_rows({"s2": GOOD}, n=[1], at=[dt.datetime(2026, 1, 1)]),
            mxl.ColumnTypeError,
            "naive",
        ),
        (
            pl.DataFrame({"sample_uid": ["s2"], "n": [1]}),
            mxl.MissingProvenanceError,
            "metaxy_provenance_by_field",
        ),
        (root_rows({"s2": {"a": "1"}}, n=[1]), mxl.ProvenanceKeysError, "declares"),
        (
            pa.table(
                {
                    "sample_uid": ["s2"],
                    "n": [1],
                    "metaxy_provenance_by_field": pa.array(
                        [[("a", "1"), ("b", "1"), ("c", "1")]], pa.map_(pa.string(), pa.string())
                    ),
                }
            ),
            mxl.ProvenanceKeysError,
            "declared fields",
        ),
        (
            pl.DataFrame(
                {
                    "sample_uid": ["s2"],
                    "n": [1],
                    "metaxy_provenance_by_field": [{"a": "1", "b": None}],
                }
            ),
            mxl.MissingProvenanceError,
            "null",
        ),
        (root_rows({"s2": GOOD}, n=[1], extra=[1]), mxl.UndeclaredColumnError, "extra"),
        (root_rows({"s2": GOOD}), mxl.MissingColumnError, "'n'"),
        ("not a frame", mxl.InvalidFrameError, "dataframe"),
    ],
    ids=[
        "missing-id",
        "null-id",
        "duplicate-id",
        "float-to-int",
        "str-to-int",
        "overflow",
        "naive-datetime",
        "missing-provenance",
        "missing-provenance-key",
        "extra-provenance-key",
        "null-provenance-value",
        "undeclared",
        "missing-required",
        "not-a-frame",
    ],
)
def test_root_write_rejected(seeded, frame, error, match) -> None:
    store, root, _ = seeded
    rejected(store, root, error, match, lambda: store.write(root, frame))


def test_lossless_casts_are_applied(seeded) -> None:
    store, root, _ = seeded
    rows = root_rows(
        {"s2": GOOD},
        n=pl.Series([7], dtype=pl.Int8),
        at=[dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))],
    )
    store.write(root, rows)
    got = store.read(root).collect().to_polars().filter(pl.col("sample_uid") == "s2")
    assert got["n"].dtype == pl.Int64 and got["n"].to_list() == [7]
    assert got["at"].to_list()[0] == dt.datetime(2025, 12, 31, 22, tzinfo=dt.UTC)


def test_non_root_write_without_increment_columns(seeded) -> None:
    store, _, leaf = seeded
    frame = pl.DataFrame({"sample_uid": ["s1"], "metaxy_provenance_by_field": [{"a": "x"}]})
    rejected(
        store,
        leaf,
        mxl.MissingProvenanceError,
        "metaxy_provenance.*resolve_update",
        lambda: store.write(leaf, frame),
    )


def test_unknown_feature(seeded) -> None:
    store, root, _ = seeded
    rejected(
        store,
        root,
        mxl.UnknownFeatureError,
        "no/such",
        lambda: store.write("no/such", root_rows({"s2": GOOD}, n=[1])),
    )
    with pytest.raises(mxl.UnknownFeatureError):
        store.resolve_update("no/such")


@pytest.mark.parametrize(("algorithm", "length"), [("sha256", 16), ("md5", 20)])
def test_table_written_with_other_hash_settings(seeded, make_store, algorithm, length) -> None:
    store, root, _ = seeded
    g = mxl.FeatureGraph(hash_length=length)
    with g.use():

        class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a", "b"])):
            n: int

        class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["a"])):
            pass

    other = make_store(store.root, hash_algorithm=algorithm)
    rejected(
        store,
        root,
        mxl.HashSettingsMismatchError,
        f"md5 length 16.*{algorithm} length {length}",
        lambda: other.write(Root, root_rows({"s2": GOOD}, n=[1])),
    )
    with pytest.raises(mxl.HashSettingsMismatchError):
        other.resolve_update(Leaf)


def test_read_only_store_refuses_writes_and_deletes(seeded, make_store) -> None:
    store, root, _ = seeded
    ro = make_store(store.root, read_only=True)
    import narwhals as nw

    rejected(
        store,
        root,
        mxl.ReadOnlyStoreError,
        "read-only",
        lambda: ro.write(root, root_rows({"s2": GOOD}, n=[1])),
    )
    rejected(
        store,
        root,
        mxl.ReadOnlyStoreError,
        "read-only",
        lambda: ro.delete(root, nw.col("sample_uid") == "s1"),
    )
    assert ro.read(root).collect().to_polars().height == 1


def test_unknown_format_and_algorithm(tmp_path) -> None:
    with pytest.raises(mxl.UnknownFormatError, match="delta"):
        mxl.LakeStore(tmp_path, format="parquet")
    with pytest.raises(mxl.UnknownHashAlgorithmError, match="md5"):
        mxl.LakeStore(tmp_path, hash_algorithm="crc32")


def test_missing_upstream_value_names_feature_field_and_sample(store, tmp_path) -> None:
    g1 = mxl.FeatureGraph()
    with g1.use():

        class Up(mxl.Feature, spec=mxl.FeatureSpec(key="up", fields=["a"])):
            pass

        class Mid(mxl.Feature, spec=mxl.FeatureSpec(key="mid", deps=[Up], fields=["a"])):
            pass

    store.write(Up, root_rows({"s1": {"a": "1"}}))
    store.write(Mid, store.resolve_update(Mid).new.collect().to_polars())

    g2 = mxl.FeatureGraph()  # Mid gains a field; its stored rows have no data version for it
    with g2.use():

        class Up2(mxl.Feature, spec=mxl.FeatureSpec(key="up", fields=["a"])):
            pass

        class Mid2(mxl.Feature, spec=mxl.FeatureSpec(key="mid", deps=[Up2], fields=["a", "b"])):
            pass

        class Down(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="down",
                deps=[Mid2],
                fields=[mxl.FieldSpec("x", deps=[mxl.FieldDep(Mid2, ["b"])])],
            ),
        ):
            pass

    with pytest.raises(mxl.MissingUpstreamValueError, match=r"down field x needs mid\.b.*s1"):
        store.resolve_update(Down)


def test_schema_evolution_adds_columns_old_rows_read_null(store) -> None:
    g1 = mxl.FeatureGraph()
    with g1.use():

        class R(mxl.Feature, spec=mxl.FeatureSpec(key="r")):
            a: int

    store.write(R, root_rows({"s1": {"default": "p"}}, a=[1]))
    g2 = mxl.FeatureGraph()
    with g2.use():

        class R2(mxl.Feature, spec=mxl.FeatureSpec(key="r")):
            a: int
            b: str | None = None

    store.write(R2, root_rows({"s2": {"default": "p"}}, a=[2], b=["x"]))
    got = store.read(R2).collect().to_polars().sort("sample_uid")
    assert got["b"].to_list() == [None, "x"]


@pytest.mark.parametrize("change", ["removed", "retyped"])
def test_schema_evolution_refuses_removed_or_retyped_columns(store, change) -> None:
    g1 = mxl.FeatureGraph()
    with g1.use():

        class R(mxl.Feature, spec=mxl.FeatureSpec(key="r")):
            a: int
            b: int | None = None

    store.write(R, root_rows({"s1": {"default": "p"}}, a=[1]))
    g2 = mxl.FeatureGraph()
    with g2.use():
        if change == "removed":

            class R2(mxl.Feature, spec=mxl.FeatureSpec(key="r")):
                a: int
        else:

            class R2(mxl.Feature, spec=mxl.FeatureSpec(key="r")):  # type: ignore[no-redef]
                a: int
                b: str | None = None

    rejected(
        store,
        R,
        mxl.SchemaEvolutionError,
        "'b'.*(declare it again|new column)",
        lambda: store.write(R2, root_rows({"s2": {"default": "p"}}, a=[2])),
    )


PROPS = {"metaxy.format_version": "1", "metaxy.hash_algorithm": "md5", "metaxy.hash_length": "16"}


def test_table_from_a_newer_format_version(store, graph) -> None:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r")):
        pass

    schema = table_schema(["sample_uid"], {}, {})
    store.format.create(store.table_ref(R.key()), schema, {**PROPS, "metaxy.format_version": "2"})
    with pytest.raises(mxl.UnsupportedFormatVersionError, match=r"format_version 2.*up to 1"):
        store.read(R)


def test_table_without_system_columns(store, graph) -> None:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r")):
        pass

    store.format.create(store.table_ref(R.key()), pa.schema([("sample_uid", pa.string())]), PROPS)
    with pytest.raises(mxl.TableContractError, match=r"features/r.*metaxy_provenance_by_field"):
        store.read(R)


# --- more bad input: overrides, non-root frames, composite keys, first writes ------------


def with_map(frame: pl.DataFrame, column: str, values: list[dict[str, str]]) -> pa.Table:
    """``frame`` as Arrow with ``column`` set to an Arrow map<string, string> of ``values``."""
    table = frame.drop(column, strict=False).to_arrow()
    entries = [list(v.items()) for v in values]
    return table.append_column(column, pa.array(entries, pa.map_(pa.string(), pa.string())))


@pytest.fixture
def pending(seeded):
    """The seeded store with two more root samples, so the leaf has two new rows."""
    store, root, leaf = seeded
    store.write(root, root_rows({"s2": GOOD, "s3": {"a": "3", "b": "3"}}, n=[2, 3]))
    new = store.resolve_update(leaf).new.collect().to_polars().sort("sample_uid")
    assert new["sample_uid"].to_list() == ["s2", "s3"]
    return store, root, leaf, new


def absent(store: mxl.LakeStore, feature: Any) -> None:
    """The feature has no table: nothing was created, no commit listed, no row read."""
    assert table_state(store, feature) is None
    assert store.history(feature) == []
    assert store.read(feature, include_history=True).collect().to_polars().height == 0


@pytest.mark.locations("local")
@pytest.mark.parametrize("form", ["struct", "map"])
def test_root_data_version_override_names_undeclared_field(seeded, form) -> None:
    store, root, _ = seeded
    override = [{"a": "content-hash", "c": "x"}]
    rows = root_rows({"s2": GOOD}, n=[1])
    frame: Any = (
        rows.with_columns(metaxy_data_version_by_field=pl.Series(override))
        if form == "struct"
        else with_map(rows, "metaxy_data_version_by_field", override)
    )
    rejected(
        store,
        root,
        mxl.ProvenanceKeysError,
        r"metaxy_data_version_by_field.*(undeclared|not declare)",
        lambda: store.write(root, frame),
    )


@pytest.mark.locations("local")
@pytest.mark.parametrize("form", ["struct", "map"])
def test_non_root_data_version_override_names_undeclared_field(pending, form) -> None:
    store, _, leaf, new = pending
    override = [{"a": "h2", "zzz": "x"}, {"a": "h3"}]
    frame: Any = (
        new.with_columns(metaxy_data_version_by_field=pl.Series(override))
        if form == "struct"
        else with_map(new, "metaxy_data_version_by_field", override)
    )
    rejected(
        store,
        leaf,
        mxl.ProvenanceKeysError,
        r"metaxy_data_version_by_field.*(undeclared|not declare)",
        lambda: store.write(leaf, frame),
    )


@pytest.mark.locations("local")
def test_non_root_null_provenance(pending) -> None:
    store, _, leaf, new = pending
    frame = new.with_columns(
        metaxy_provenance=pl.when(pl.col("sample_uid") == "s3")
        .then(None)
        .otherwise(pl.col("metaxy_provenance"))
    )
    assert frame["metaxy_provenance"].null_count() == 1
    rejected(
        store,
        leaf,
        mxl.MissingProvenanceError,
        r"null metaxy_provenance.*s3",
        lambda: store.write(leaf, frame),
    )


@pytest.mark.locations("local")
def test_non_root_frame_lacking_only_upstream(pending) -> None:
    store, _, leaf, new = pending
    rejected(
        store,
        leaf,
        mxl.MissingProvenanceError,
        r"metaxy_upstream.*resolve_update",
        lambda: store.write(leaf, new.drop("metaxy_upstream")),
    )


@pytest.mark.locations("local")
def test_non_root_null_and_duplicate_ids(pending) -> None:
    store, _, leaf, new = pending
    nulled = new.with_columns(
        sample_uid=pl.when(pl.col("sample_uid") == "s3").then(None).otherwise(pl.col("sample_uid"))
    )
    rejected(store, leaf, mxl.NullIdError, r"'sample_uid'.*null", lambda: store.write(leaf, nulled))
    doubled = pl.concat([new, new.filter(pl.col("sample_uid") == "s2")])
    rejected(store, leaf, mxl.DuplicateSampleError, "s2", lambda: store.write(leaf, doubled))


@pytest.fixture
def pairs(store: mxl.LakeStore, graph: mxl.FeatureGraph):
    """A root and a leaf identified by (a, b); a repeats across the seeded samples."""

    class Pair(mxl.Feature, spec=mxl.FeatureSpec(key="pair", id_columns=["a", "b"])):
        n: int

    class PairLeaf(
        mxl.Feature, spec=mxl.FeatureSpec(key="pair_leaf", deps=[Pair], id_columns=["a", "b"])
    ):
        pass

    def rows(a: list[Any], b: list[Any]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "a": a,
                "b": b,
                "n": list(range(len(a))),
                "metaxy_provenance_by_field": [{"default": f"p{i}"} for i in range(len(a))],
            }
        )

    store.write(Pair, rows(["x", "x"], ["1", "2"]))
    store.write(PairLeaf, store.resolve_update(PairLeaf).new.collect().to_polars())
    return store, Pair, PairLeaf, rows


@pytest.mark.locations("local")
def test_composite_key_null_and_duplicate_ids_in_root(pairs) -> None:
    store, pair, _, rows = pairs
    rejected(
        store,
        pair,
        mxl.NullIdError,
        r"'b'.*null",
        lambda: store.write(pair, rows(["y", "y"], ["1", None])),
    )
    rejected(
        store,
        pair,
        mxl.DuplicateSampleError,
        r"'a': 'y', 'b': '1'",
        lambda: store.write(pair, rows(["y", "y", "y"], ["1", "2", "1"])),
    )
    # a alone repeating is legitimate: (y, 1) and (y, 2) are two samples
    assert store.write(pair, rows(["y", "y"], ["1", "2"])).rows == 2
    assert store.read(pair).collect().to_polars().height == 4


@pytest.mark.locations("local")
def test_composite_key_null_and_duplicate_ids_in_non_root(pairs) -> None:
    store, pair, leaf, rows = pairs
    store.write(pair, rows(["z", "z"], ["1", "2"]))
    new = store.resolve_update(leaf).new.collect().to_polars().sort("a", "b")
    assert new.select("a", "b").rows() == [("z", "1"), ("z", "2")]
    nulled = new.with_columns(b=pl.when(pl.col("b") == "2").then(None).otherwise(pl.col("b")))
    rejected(store, leaf, mxl.NullIdError, r"'b'.*null", lambda: store.write(leaf, nulled))
    doubled = pl.concat([new, new.filter(pl.col("b") == "1")])
    rejected(
        store,
        leaf,
        mxl.DuplicateSampleError,
        r"'a': 'z', 'b': '1'",
        lambda: store.write(leaf, doubled),
    )
    assert store.write(leaf, new).rows == 2  # the same pairs, once each, are fine


@pytest.mark.locations("local")
@pytest.mark.parametrize("column", ["metaxy_provenance_by_field", "metaxy_data_version_by_field"])
def test_root_provenance_column_that_is_not_a_map(seeded, column) -> None:
    store, root, _ = seeded
    frame = root_rows({"s2": GOOD}, n=[1]).with_columns(pl.lit("a=1,b=1").alias(column))
    rejected(
        store,
        root,
        mxl.ColumnTypeError,
        f"{column} must be a map or a struct",
        lambda: store.write(root, frame),
    )


@pytest.mark.locations("local")
@pytest.mark.parametrize(
    "column",
    ["metaxy_provenance_by_field", "metaxy_data_version_by_field", "metaxy_upstream"],
)
def test_non_root_provenance_column_that_is_not_a_map(pending, column) -> None:
    store, _, leaf, new = pending
    frame = new.with_columns(pl.lit("a=1").alias(column))
    rejected(
        store,
        leaf,
        mxl.ColumnTypeError,
        f"{column} must be a map or a struct",
        lambda: store.write(leaf, frame),
    )


@pytest.mark.locations("local")
@pytest.mark.parametrize(
    "values",
    [[1.5, 2.5], [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]],
    ids=["float", "date"],
)
def test_first_write_ids_neither_strings_nor_integers(store, features, values) -> None:
    root, _ = features
    absent(store, root)
    frame = pl.DataFrame(
        {"sample_uid": values, "n": [1, 2], "metaxy_provenance_by_field": [GOOD, GOOD]}
    )
    with pytest.raises(mxl.ColumnTypeError, match=r"'sample_uid'.*strings or integers"):
        store.write(root, frame)
    absent(store, root)
    store.write(root, root_rows({"s1": GOOD}, n=[1]))  # the check above can see a table
    assert table_state(store, root) is not None


@pytest.mark.locations("local")
@pytest.mark.parametrize(
    ("samples", "error", "match"),
    [
        (pl.DataFrame({"sample_uid": ["s1"]}), mxl.MissingProvenanceError, "provenance_by_field"),
        (
            pl.DataFrame({"sample_uid": ["s1", None], "metaxy_provenance_by_field": [GOOD, GOOD]}),
            mxl.NullIdError,
            "null",
        ),
        (
            root_rows({"s1": GOOD}).vstack(root_rows({"s1": {"a": "2", "b": "2"}})),
            mxl.DuplicateSampleError,
            "s1",
        ),
        (root_rows({"s1": {"a": "1"}}), mxl.ProvenanceKeysError, "declare"),
        (root_rows({"s1": {"a": "1", "b": "1", "c": "1"}}), mxl.ProvenanceKeysError, "declare"),
    ],
    ids=["missing-provenance", "null-id", "duplicate-id", "missing-key", "extra-key"],
)
def test_root_resolve_samples_rejected(seeded, samples, error, match) -> None:
    store, root, leaf = seeded
    before = state(store, leaf)
    rejected(store, root, error, match, lambda: store.resolve_update(root, samples=samples))
    assert state(store, leaf) == before


@pytest.mark.locations("local")
def test_read_only_store_refuses_hard_delete_compact_and_expire(seeded, make_store) -> None:
    import narwhals as nw

    store, root, _ = seeded
    ro = make_store(store.root, read_only=True)
    actions = {
        "hard delete": lambda: ro.delete(root, nw.col("sample_uid") == "s1", soft=False),
        "compact": lambda: ro.compact(root),
        "expire": lambda: ro.expire(root, older_than=dt.timedelta(0)),
    }
    for action in actions.values():
        rejected(store, root, mxl.ReadOnlyStoreError, "read-only", action)
    assert ro.read(root).collect().to_polars()["sample_uid"].to_list() == ["s1"]


EMPTY_ROOT = pl.DataFrame(
    schema={
        "sample_uid": pl.String,
        "n": pl.Int64,
        "metaxy_provenance_by_field": pl.Struct({"a": pl.String, "b": pl.String}),
    }
)


def commits(store: mxl.LakeStore, feature: Any) -> list[tuple[Any, ...]]:
    return [(c.version, c.operation, c.write_id) for c in store.history(feature)]


@pytest.mark.locations("local")
def test_empty_frame_commits_nothing(seeded) -> None:
    store, root, leaf = seeded
    empty_leaf = store.resolve_update(leaf).new.collect().to_polars()
    assert empty_leaf.height == 0 and "metaxy_provenance" in empty_leaf.columns
    for feature, frame in [(root, EMPTY_ROOT), (leaf, empty_leaf)]:
        before, history = state(store, feature), commits(store, feature)
        result = store.write(feature, frame)
        assert result.version is None and result.rows == 0
        assert state(store, feature) == before
        assert commits(store, feature) == history


@pytest.mark.locations("local")
def test_empty_first_write_creates_no_table(store, features) -> None:
    root, _ = features
    result = store.write(root, EMPTY_ROOT)
    assert result.version is None and result.rows == 0
    absent(store, root)


@pytest.mark.locations("local")
@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (pl.DataFrame({"n": [1], "metaxy_provenance_by_field": [GOOD]}), mxl.MissingIdColumnError),
        (pl.DataFrame({"sample_uid": ["s1"], "n": [1]}), mxl.MissingProvenanceError),
        (root_rows({"s1": GOOD}, n=[1], extra=[1]), mxl.UndeclaredColumnError),
        (root_rows({"s1": {"a": "1"}}, n=[1]), mxl.ProvenanceKeysError),
    ],
    ids=["missing-id", "missing-provenance", "undeclared", "provenance-keys"],
)
def test_refused_first_write_creates_no_table(store, features, frame, error) -> None:
    root, _ = features
    with pytest.raises(error):
        store.write(root, frame)
    absent(store, root)
