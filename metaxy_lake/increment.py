"""The ``Increment``: what a feature needs to (re)compute."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.keys import FeatureKey


@dataclass(frozen=True)
class Increment:
    """New, stale and orphaned samples of one feature, as lazy narwhals frames over DuckDB.

    - ``new``: samples whose expected provenance exists and that have no live row;
    - ``stale``: samples with a live row whose provenance differs (or that match a
      staleness predicate), with ``metaxy_changed_fields``;
    - ``orphaned``: live rows whose sample no longer has a live upstream row.

    ``new`` and ``stale`` carry the id columns, the provenance and data-version columns
    ``write`` needs, and the dependencies' user columns: compute, add your columns, write.
    """

    feature: FeatureKey
    _con: duckdb.DuckDBPyConnection
    _new: pa.Table
    _stale: pa.Table
    _orphaned: pa.Table

    def _frame(self, table: pa.Table) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        return nw.from_native(self._con.from_arrow(table))

    @property
    def new(self) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """Samples to compute for the first time."""
        return self._frame(self._new)

    @property
    def stale(self) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """Samples to recompute, with ``metaxy_changed_fields``."""
        return self._frame(self._stale)

    @property
    def orphaned(self) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """Stored live rows whose upstream is gone."""
        return self._frame(self._orphaned)

    def counts(self) -> dict[str, int]:
        """Number of new, stale and orphaned samples."""
        return {
            "new": self._new.num_rows,
            "stale": self._stale.num_rows,
            "orphaned": self._orphaned.num_rows,
        }

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to do."""
        return not any(self.counts().values())

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items())
        return f"Increment({self.feature}: {counts})"
