"""Frames in (any narwhals-compatible frame) and out (lazy narwhals frames over DuckDB)."""

from __future__ import annotations

import datetime as dt

import duckdb
import narwhals as nw
import polars as pl
import pyarrow as pa
import pytest
from helpers import as_dict, root_rows
from pydantic import BaseModel

import metaxy_lake as mxl


class Box(BaseModel):
    x: float
    label: str | None = None


@pytest.fixture
def rich(graph: mxl.FeatureGraph):
    class Rich(mxl.Feature, spec=mxl.FeatureSpec(key="rich", fields=["a"])):
        s: str
        f: float
        b: bool
        raw: bytes
        at: dt.datetime
        day: dt.date
        tags: list[str]
        scores: dict[str, float]
        box: Box

    class Down(mxl.Feature, spec=mxl.FeatureSpec(key="down", deps=[Rich], fields=["a"])):
        pass

    return Rich, Down


ROW = {
    "s": "x",
    "f": 1.5,
    "b": True,
    "raw": b"\x00\x01",
    "at": dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    "day": dt.date(2026, 1, 2),
    "tags": ["a", "b"],
    "box": {"x": 1.0, "label": None},
}


def rich_table() -> pa.Table:
    return pa.table(
        {
            "sample_uid": ["s1"],
            **{k: [v] for k, v in ROW.items()},
            "scores": pa.array([[("q", 0.5)]], pa.map_(pa.string(), pa.float64())),
            "metaxy_provenance_by_field": pa.array(
                [[("a", "p")]], pa.map_(pa.string(), pa.string())
            ),
        }
    )


def test_every_column_type_round_trips(store, rich) -> None:
    feature, _ = rich
    store.write(feature, rich_table())
    got = store.read(feature).collect().to_arrow().to_pylist()[0]
    for key, value in ROW.items():
        assert got[key] == value, key
    assert dict(got["scores"]) == {"q": 0.5}


@pytest.mark.parametrize("kind", ["polars", "polars-lazy", "pyarrow", "duckdb"])
def test_any_narwhals_frame_can_be_written(store, graph, kind) -> None:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r", fields=["a"])):
        n: int

    frame = root_rows({"s1": {"a": "1"}, "s2": {"a": "2"}}, n=[1, 2])
    native = {
        "polars": lambda: frame,
        "polars-lazy": frame.lazy,
        "pyarrow": frame.to_arrow,
        "duckdb": lambda: duckdb.from_arrow(frame.to_arrow()),
    }[kind]()
    store.write(R, native)
    assert store.read(R).collect().to_polars().sort("sample_uid")["n"].to_list() == [1, 2]


def test_increment_frames_are_lazy_narwhals_over_duckdb_with_maps(store, rich) -> None:
    feature, down = rich
    store.write(feature, pl.from_arrow(rich_table()))  # polars Map columns are accepted
    inc = store.resolve_update(down)
    assert isinstance(inc.new, nw.LazyFrame)
    assert isinstance(nw.to_native(inc.new), duckdb.DuckDBPyRelation)
    arrow = inc.new.collect().to_arrow()
    assert pa.types.is_map(arrow.schema.field("metaxy_provenance_by_field").type)
    polars = inc.new.collect().to_polars()
    assert as_dict(polars.row(0, named=True)["metaxy_upstream"]).keys() == {"rich"}
    # the dep's user columns are carried into the increment
    assert polars.row(0, named=True)["s"] == "x"


def test_string_id_types_and_integer_ids_are_fixed_by_the_first_write(store, graph) -> None:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r", id_columns=["k"])):
        pass

    store.write(
        R,
        pl.DataFrame(
            {"k": pl.Series([1], dtype=pl.UInt8), "metaxy_provenance_by_field": [{"default": "p"}]}
        ),
    )
    with pytest.raises(mxl.ColumnTypeError, match="'k'"):
        store.write(R, pl.DataFrame({"k": ["x"], "metaxy_provenance_by_field": [{"default": "p"}]}))
    assert store.read(R).collect().to_arrow().schema.field("k").type == pa.int64()


def test_rows_that_went_through_pandas_are_written_with_their_maps(store, rich) -> None:
    pytest.importorskip("pandas", reason="pandas is an optional extra")
    feature, down = rich
    # pandas turns maps into lists of (key, value) pairs and strings into large strings
    store.write(feature, rich_table().to_pandas())
    got = store.read(feature).collect().to_arrow().to_pylist()[0]
    assert dict(got["scores"]) == {"q": 0.5} and got["tags"] == ["a", "b"]
    todo = store.resolve_update(down).new.collect()
    store.write(down, todo.to_pandas())
    stored = store.read(down).collect().to_arrow()
    assert pa.types.is_map(stored.schema.field("metaxy_upstream").type)
    expected = todo.to_arrow().select(["metaxy_provenance", "metaxy_provenance_by_field"])
    assert stored.select(expected.column_names).to_pylist() == expected.to_pylist()
    assert store.resolve_update(down).is_empty


def test_lists_that_are_no_key_value_pairs_are_refused_and_nothing_is_written(store, rich) -> None:
    feature, _ = rich
    table = rich_table()
    bad = pa.array([[["a", "p", "extra"]]], pa.list_(pa.list_(pa.string())))
    index = table.schema.get_field_index("metaxy_provenance_by_field")
    with pytest.raises(mxl.ColumnTypeError, match="key, value"):
        store.write(feature, table.set_column(index, "metaxy_provenance_by_field", bad))
    assert store.history(feature) == []
