"""String maps cross into and out of DuckDB as key and value lists (``engine.maps``)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

import metaxy_lake as mxl
from metaxy_lake.engine.maps import join, pair, pair_value, split
from metaxy_lake.engine.relations import SRC, query

STRING_MAP = pa.map_(pa.string(), pa.string())


def chunked_maps() -> pa.Table:
    """Maps in awkward layouts: a sliced chunk with nulls, an empty chunk, an empty map."""
    whole = pa.array(
        [[("x", "0")], [("a", "1"), ("b", "2")], None, [("b", "3"), ("a", None)], [], None],
        type=STRING_MAP,
    )
    chunks = [whole.slice(1, 4), pa.array([], type=STRING_MAP), whole.slice(4)]
    return pa.table(
        {
            "id": pa.chunked_array([["s1", "s2", "s3", "s4"], [], ["s5", "s6"]]),
            "m": pa.chunked_array(chunks),
        }
    )


def test_maps_survive_a_trip_through_duckdb_as_pairs() -> None:
    table = chunked_maps()
    pairs = split(table, ["m"])
    assert pairs.column_names == ["id", *pair("m")]
    rel = duckdb.connect().from_arrow(pairs)
    out = query(rel, f"SELECT *, {pair_value('m', 'a')} AS a FROM {SRC}").to_arrow_table()
    assert out.column("a").to_pylist() == ["1", None, None, None, None, None]
    back = join(out.drop_columns(["a"]), ["m"])
    assert back.column_names == ["id", "m"]
    assert back.column("m").to_pylist() == table.column("m").to_pylist()


def frame(n: int) -> pa.Table:
    """Root rows with provenance as an Arrow map; sample s2 has none."""
    maps = [None if i == 2 else [("b", f"b{i}"), ("a", f"a{i}")] for i in range(n)]
    return pa.table(
        {
            "sample_uid": [f"s{i}" for i in range(n)],
            "metaxy_provenance_by_field": pa.array(maps, STRING_MAP),
        }
    )


@pytest.fixture
def root(graph: mxl.FeatureGraph) -> type[mxl.Feature]:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r", fields=["a", "b"])):
        pass

    return R


def test_a_sliced_frame_writes_the_same_rows_as_a_copy(tmp_path, fmt, root) -> None:
    sliced = frame(10).slice(3, 5)  # offsets into the parent's entries, a null before them
    copied = pa.Table.from_pylist(sliced.to_pylist(), schema=sliced.schema)
    stored = []
    for name, rows in (("sliced", sliced), ("copied", copied)):
        store = mxl.LakeStore(tmp_path / name, format=fmt)
        store.write(root, rows)
        got = store.read(root).collect().to_polars().sort("sample_uid")
        stored.append(got.select("sample_uid", "metaxy_provenance_by_field", "metaxy_provenance"))
    assert stored[0].equals(stored[1])
    assert stored[0]["sample_uid"].to_list() == [f"s{i}" for i in range(3, 8)]


def test_a_null_map_in_a_sliced_frame_is_named(tmp_path, root) -> None:
    store = mxl.LakeStore(tmp_path)
    with pytest.raises(mxl.ProvenanceKeysError, match="s2"):
        store.write(root, frame(10).slice(1, 5))
    assert store.history(root) == []
