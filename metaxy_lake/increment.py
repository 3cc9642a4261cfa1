"""The ``Increment``: what a feature needs to (re)compute.

Its rows live where they were computed (DuckDB, behind ``IncrementRows``:
``store.resolve.rows``); this module names them and says what they mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeAlias

import narwhals as nw
from narwhals.typing import IntoLazyFrame

from metaxy_lake.errors import InvalidKindError
from metaxy_lake.graph.keys import FeatureKey
from metaxy_lake.types import IncrementKind


class ResolvePath(StrEnum):
    """How a resolve was computed (``Increment.path``)."""

    FULL = "full"
    """Every sample was hashed and compared."""
    CHECKPOINT = "checkpoint"
    """Only the candidates a checkpoint leaves were hashed and compared."""


TODO_KINDS: tuple[IncrementKind, ...] = (IncrementKind.NEW, IncrementKind.STALE)
"""The kinds of samples there is something to compute for (``Increment.todo``)."""

LazyRows: TypeAlias = nw.LazyFrame[IntoLazyFrame]
"""Rows of an increment: a lazy narwhals frame (over DuckDB)."""


def check_kinds(kinds: Sequence[str]) -> tuple[IncrementKind, ...]:
    """``kinds`` as increment kinds, when they are some of ``new`` and ``stale``.

    Raises:
        InvalidKindError: No kind, or one that is neither ``new`` nor ``stale``.
    """
    if not kinds or any(k not in TODO_KINDS for k in kinds):
        raise InvalidKindError(f"kinds are some of {list(TODO_KINDS)}, got {list(kinds)}")
    return tuple(IncrementKind(k) for k in kinds)


class IncrementRows(Protocol):
    """Where an increment's rows are computed (``store.resolve.rows.DuckDBRows``)."""

    def of_kind(self, kind: IncrementKind) -> LazyRows:
        """The rows of one kind."""

    def todo(self, kinds: tuple[IncrementKind, ...]) -> LazyRows:
        """The rows of ``kinds`` (checked) in one frame with ``metaxy_status``."""

    def shard_counts(
        self, columns: Sequence[str], count: int, kinds: tuple[IncrementKind, ...]
    ) -> list[int]:
        """How many rows of ``kinds`` each of ``count`` shards (by ``columns``) holds."""


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
    _rows: IncrementRows
    _counts: dict[str, int]
    path: ResolvePath = ResolvePath.FULL
    candidates: int | None = None
    reason: str = ""
    id: str = ""
    shard_columns: tuple[str, ...] = ()

    @property
    def new(self) -> LazyRows:
        """Samples to compute for the first time."""
        return self._rows.of_kind(IncrementKind.NEW)

    @property
    def stale(self) -> LazyRows:
        """Samples to recompute, with ``metaxy_changed_fields``."""
        return self._rows.of_kind(IncrementKind.STALE)

    @property
    def orphaned(self) -> LazyRows:
        """Stored live rows whose upstream is gone."""
        return self._rows.of_kind(IncrementKind.ORPHANED)

    def todo(self, kinds: Sequence[str] = TODO_KINDS) -> LazyRows:
        """The samples to compute, of ``kinds``, in one frame with ``metaxy_status``.

        ``metaxy_status`` says ``new`` or ``stale``; ``metaxy_changed_fields`` is null on
        new rows. ``write`` drops both.

        Raises:
            InvalidKindError: A kind is neither ``new`` nor ``stale`` (a ``ValueError``).
        """
        return self._rows.todo(check_kinds(kinds))

    def shard_counts(self, count: int, kinds: Sequence[str] = TODO_KINDS) -> list[int]:
        """How many samples to compute each of ``count`` shards holds (the fan-out's balance).

        The same split as ``resolve_update(..., shard=(i, count))``.

        Raises:
            InvalidShardError: ``count`` is not a positive integer.
            InvalidKindError: A kind is neither ``new`` nor ``stale``.
        """
        return self._rows.shard_counts(self.shard_columns, count, check_kinds(kinds))

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
