"""The ``Increment``: what a feature needs to (re)compute."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import narwhals as nw

from metaxy_lake.graph.keys import FeatureKey


@dataclass(frozen=True)
class Increment:
    """New, stale and orphaned samples of one feature, as lazy narwhals frames over DuckDB.

    - ``new``: samples whose expected provenance exists and that have no live row;
    - ``stale``: samples with a live row whose provenance differs (or that match a
      staleness predicate), with ``metaxy_changed_fields``;
    - ``orphaned``: live rows whose sample no longer has a live upstream row.

    ``new`` and ``stale`` carry the id columns, the provenance and data-version columns
    ``write`` needs, and the dependencies' user columns: compute, add your columns, write.

    Attributes:
        feature: The target feature.
        path: How it was computed: ``checkpoint`` (only the candidates a checkpoint
            leaves were hashed and compared) or ``full`` (every sample).
        candidates: How many samples the checkpoint path checked (None on a full scan).
        reason: Why it scanned in full (empty on the checkpoint path).
    """

    feature: FeatureKey
    _new: duckdb.DuckDBPyRelation
    _stale: duckdb.DuckDBPyRelation
    _orphaned: duckdb.DuckDBPyRelation
    _counts: dict[str, int]
    path: str = "full"
    candidates: int | None = None
    reason: str = ""

    @property
    def new(self) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """Samples to compute for the first time."""
        return nw.from_native(self._new)

    @property
    def stale(self) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """Samples to recompute, with ``metaxy_changed_fields``."""
        return nw.from_native(self._stale)

    @property
    def orphaned(self) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """Stored live rows whose upstream is gone."""
        return nw.from_native(self._orphaned)

    def counts(self) -> dict[str, int]:
        """Number of new, stale and orphaned samples."""
        return dict(self._counts)

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to do."""
        return not any(self.counts().values())

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items())
        return f"Increment({self.feature}: {counts})"
