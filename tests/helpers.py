"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

import metaxy_lake as mxl


def root_rows(values: dict[Any, dict[str, str]], **columns: list[Any]) -> pl.DataFrame:
    """Root rows: ids → provenance by field, plus optional user columns."""
    return pl.DataFrame(
        {
            "sample_uid": list(values),
            "metaxy_provenance_by_field": list(values.values()),
            **columns,
        }
    )


STRING_MAP = pa.map_(pa.string(), pa.string())


def string_map(rows: list[dict[str, Any] | None], values: pa.DataType | None = None) -> pl.Series:
    """A map<string, values> column, values text by default (partial maps, nulls allowed)."""
    items = [None if r is None else list(r.items()) for r in rows]
    return pl.Series(pa.array(items, type=pa.map_(pa.string(), values or pa.string())))


def as_dict(value: Any) -> dict[str, str]:
    """A map value from polars (a dict, or a list of key/value entries)."""
    if isinstance(value, dict):
        return value
    return {e["key"]: e["value"] for e in value}


def ids(frame: Any) -> set[Any]:
    """The sample_uid values of a narwhals frame (lazy or eager)."""
    eager = frame.collect() if hasattr(frame, "collect") else frame
    return set(eager.to_polars()["sample_uid"].to_list())


def increment_ids(inc: mxl.Increment) -> tuple[set[Any], set[Any], set[Any]]:
    """(new, stale, orphaned) sample_uid sets."""
    return ids(inc.new), ids(inc.stale), ids(inc.orphaned)


def write_increment(store: mxl.LakeStore, feature: type[mxl.Feature], **values: Any) -> None:
    """Write every new and stale row of a feature's increment, as a pipeline would."""
    inc = store.resolve_update(feature)
    rows = pl.concat(
        [inc.new.collect().to_polars(), inc.stale.collect().to_polars()], how="diagonal_relaxed"
    )
    if rows.height:
        store.write(feature, rows.with_columns(**{k: pl.lit(v) for k, v in values.items()}))


def table_state(
    store: mxl.LakeStore, feature: type[mxl.Feature]
) -> tuple[int | None, pa.Schema, dict[str, str]] | None:
    """(version, Arrow schema, properties) of a feature's table; None when it has none."""
    table = store.format.open(store.table_ref(feature.key()))
    if table is None:
        return None
    return table.version, table.schema, dict(table.properties)
