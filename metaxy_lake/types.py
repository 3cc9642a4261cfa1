"""Named types of the public signatures: feature references, frames, filters, moments.

Example:
    >>> def count(store: LakeStore, feature: FeatureRef, filters: Filters = None) -> int:
    ...     ...  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TypeAlias

import narwhals as nw
from narwhals.typing import IntoFrame

from metaxy_lake.graph.keys import FeatureRef

FrameLike: TypeAlias = IntoFrame
"""Any frame narwhals accepts: polars, pandas, pyarrow, DuckDB (eager or lazy)."""

FilterExpr: TypeAlias = nw.Expr
"""A narwhals boolean expression, e.g. ``nw.col("score") > 0.5``."""

Filters: TypeAlias = FilterExpr | Sequence[FilterExpr] | None
"""One expression, several (ANDed), or none."""

FiltersByFeature: TypeAlias = Mapping[FeatureRef, Filters]
"""A feature (class or key) → its filters."""

AsOfLike: TypeAlias = dt.datetime | str | int
"""An aware datetime, ISO 8601 text with a time zone, or a table version."""

IdValue: TypeAlias = str | int
"""The value of an id column: ids are strings or integers."""

SampleIds: TypeAlias = (
    Mapping[str, IdValue] | Sequence[Mapping[str, IdValue] | IdValue] | IdValue | FrameLike
)
"""Samples named by their ids: one sample's (a mapping of id column → value), several
(mappings or, with one id column, plain values), or a frame of id columns."""

__all__ = [
    "AsOfLike",
    "FeatureRef",
    "FilterExpr",
    "Filters",
    "FiltersByFeature",
    "FrameLike",
    "IdValue",
    "SampleIds",
    "filter_list",
]


def filter_list(filters: Filters) -> list[FilterExpr]:
    """``filters`` as a list of expressions (ANDed)."""
    if filters is None:
        return []
    if isinstance(filters, Sequence) and not isinstance(filters, str):
        return list(filters)
    return [filters]


class IncrementKind(StrEnum):
    """A kind of sample of an increment (the value is what ``metaxy_status`` says)."""

    NEW = "new"
    STALE = "stale"
    ORPHANED = "orphaned"
