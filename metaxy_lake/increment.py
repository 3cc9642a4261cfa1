"""The ``Increment``: what a feature needs to (re)compute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import narwhals as nw

from metaxy_lake.engine.relations import check_shard, shard_sql
from metaxy_lake.engine.sql import ident, lit
from metaxy_lake.graph.keys import FeatureKey
from metaxy_lake.schema import CHANGED_FIELDS, STATUS

TODO_KINDS = ("new", "stale")
"""The kinds of samples there is something to compute for (``Increment.todo``)."""


def check_kinds(kinds: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``kinds`` are some of ``new`` and ``stale``."""
    if not kinds or any(k not in TODO_KINDS for k in kinds):
        raise ValueError(f"kinds are some of {list(TODO_KINDS)}, got {list(kinds)}")


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
        id: Names this increment: a digest of the feature's resolved definition, the
            scope (filters, predicates, shard, chain) and every table read with its
            version. The same resolve of unchanged tables has the same id; any commit to
            a table read gives another. Write ids derived from it make a retried write
            land once (``metaxy_lake.ray`` does).
        shard_columns: The columns samples are sharded by (the ids; a parent's ``on``
            columns for expansion lineage).
    """

    feature: FeatureKey
    _new: duckdb.DuckDBPyRelation
    _stale: duckdb.DuckDBPyRelation
    _orphaned: duckdb.DuckDBPyRelation
    _counts: dict[str, int]
    path: str = "full"
    candidates: int | None = None
    reason: str = ""
    id: str = ""
    shard_columns: tuple[str, ...] = ()

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

    def todo(self, kinds: Sequence[str] = TODO_KINDS) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """The samples to compute, of ``kinds``, in one frame with ``metaxy_status``.

        ``metaxy_status`` says ``new`` or ``stale``; ``metaxy_changed_fields`` is null on
        new rows. ``write`` drops both.

        Raises:
            ValueError: A kind is neither ``new`` nor ``stale``.
        """
        check_kinds(kinds)
        stale = self._stale.project(f"*, {lit('stale')} AS {ident(STATUS)}")
        columns = ", ".join(ident(c) for c in stale.columns)
        no_fields = f"CAST(NULL AS VARCHAR[]) AS {ident(CHANGED_FIELDS)}"
        new = self._new.project(f"*, {no_fields}, {lit('new')} AS {ident(STATUS)}")
        new = new.project(columns)
        chosen = [rel for kind, rel in (("new", new), ("stale", stale)) if kind in kinds]
        return nw.from_native(chosen[0] if len(chosen) == 1 else chosen[0].union(chosen[1]))

    def shard_counts(self, count: int, kinds: Sequence[str] = TODO_KINDS) -> list[int]:
        """How many samples to compute each of ``count`` shards holds (the fan-out's balance).

        The same split as ``resolve_update(..., shard=(i, count))``.

        Raises:
            InvalidShardError: ``count`` is not a positive integer.
        """
        check_shard((0, count))
        rows = self.todo(kinds).to_native()
        shard = shard_sql(self.shard_columns, count)
        found = rows.aggregate(f"{shard} AS shard, count(*) AS n", shard).fetchall()
        per_shard = [0] * count
        for index, n in found:
            per_shard[int(index)] = int(n)
        return per_shard

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
