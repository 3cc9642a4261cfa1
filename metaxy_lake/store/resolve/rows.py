"""An increment's rows in DuckDB: each kind, the samples to compute, their shards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import narwhals as nw

from metaxy_lake.engine.increment import IncrementRelations
from metaxy_lake.engine.relations import Relation, check_shard, shard_sql
from metaxy_lake.engine.sql import ident, lit
from metaxy_lake.increment import LazyRows
from metaxy_lake.schema import CHANGED_FIELDS, STATUS
from metaxy_lake.types import IncrementKind


@dataclass(frozen=True)
class DuckDBRows:
    """The rows behind an ``Increment`` (``IncrementRows``): the engine's relations."""

    found: IncrementRelations

    def _relation(self, kind: IncrementKind) -> Relation:
        return {
            IncrementKind.NEW: self.found.new,
            IncrementKind.STALE: self.found.stale,
            IncrementKind.ORPHANED: self.found.orphaned,
        }[kind]

    def of_kind(self, kind: IncrementKind) -> LazyRows:
        """The rows of one kind."""
        return nw.from_native(self._relation(kind))

    def _todo(self, kinds: tuple[IncrementKind, ...]) -> Relation:
        stale = self.found.stale.project(f"*, {lit(IncrementKind.STALE.value)} AS {ident(STATUS)}")
        columns = ", ".join(ident(c) for c in stale.columns)
        no_fields = f"CAST(NULL AS VARCHAR[]) AS {ident(CHANGED_FIELDS)}"
        new = self.found.new.project(
            f"*, {no_fields}, {lit(IncrementKind.NEW.value)} AS {ident(STATUS)}"
        )
        new = new.project(columns)
        by_kind = ((IncrementKind.NEW, new), (IncrementKind.STALE, stale))
        chosen = [rel for kind, rel in by_kind if kind in kinds]
        return chosen[0] if len(chosen) == 1 else chosen[0].union(chosen[1])

    def todo(self, kinds: tuple[IncrementKind, ...]) -> LazyRows:
        """The rows of ``kinds`` (checked) in one frame with ``metaxy_status``."""
        return nw.from_native(self._todo(kinds))

    def shard_counts(
        self, columns: Sequence[str], count: int, kinds: tuple[IncrementKind, ...]
    ) -> list[int]:
        """How many rows of ``kinds`` each of ``count`` shards (by ``columns``) holds.

        Raises:
            InvalidShardError: ``count`` is not a positive integer.
        """
        check_shard((0, count))
        shard = shard_sql(columns, count)
        found = self._todo(kinds).aggregate(f"{shard} AS shard, count(*) AS n", shard).fetchall()
        per_shard = [0] * count
        for index, n in found:
            per_shard[int(index)] = int(n)
        return per_shard
