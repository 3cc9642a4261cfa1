"""Small helpers shared by the tests."""

from __future__ import annotations

import datetime as dt
import math
import os
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


# Property tests run once per format. Under the default hypothesis profile ("ci") one
# format runs each property test's full example count and the others a third of it, the
# full format rotating by day: every property is checked on every format in every run, and
# each format gets the full count every third day. (test_property_increment's six tests
# took 7.5 min in full on all three formats, ~40% of the default suite.) Any other profile
# ("slow") runs the full count on every format.
FULL_FORMAT_VAR = "MXL_HYPOTHESIS_FULL_FORMAT"
OTHER_FORMATS_DIVISOR = {"ci": 3}


def hypothesis_profile() -> str:
    """The hypothesis profile of the run (``HYPOTHESIS_PROFILE``, default ``ci``)."""
    return os.environ.get("HYPOTHESIS_PROFILE", "ci")


def rotating_format(formats: list[str], day: dt.date) -> str:
    """The format that runs the full example counts on ``day`` (one of ``formats``)."""
    return formats[day.toordinal() % len(formats)]


def examples(count: int, fmt: str) -> int:
    """How many of a property test's ``count`` examples run on ``fmt`` in this run.

    The full count on the run's full format (``MXL_HYPOTHESIS_FULL_FORMAT``, which the
    session sets, see tests/conftest.py) or under a profile without a divisor; otherwise
    the profile's share of it, at least one example.
    """
    divisor = OTHER_FORMATS_DIVISOR.get(hypothesis_profile(), 1)
    if fmt == os.environ.get(FULL_FORMAT_VAR):
        return count
    return max(1, math.ceil(count / divisor))


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
