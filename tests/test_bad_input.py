"""Bad input raises a named error and leaves the table exactly as it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from helpers import root_rows

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


def state(store: mxl.LakeStore, feature: Any) -> tuple[int | None, int]:
    commits = store.history(feature)
    rows = store.read(feature, include_history=True).collect().to_polars().height
    return (commits[0].version if commits else None), rows


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
