"""The tables an increment reads: the target's and each dep's, per store of the chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from metaxy_lake.catalog.checkpoints import TableState
from metaxy_lake.graph import FeatureDefinition, FeatureKey, ResolvedDep
from metaxy_lake.store.tables.chain import ChainTable


@dataclass(frozen=True)
class Source:
    """One table an increment reads: its feature, its store's table, its id columns.

    ``ids`` maps the table's id columns to the target's (a dep's ``rename``).
    """

    feature: FeatureKey
    part: ChainTable
    ids: Mapping[str, str]

    @property
    def state(self) -> TableState:
        """The table as a checkpoint records it."""
        table = self.part.table
        if table is None:
            return TableState(str(self.feature), self.part.store.root, None, None, None)
        return TableState(
            str(self.feature),
            self.part.store.root,
            table.identity,
            table.version,
            table.files_digest(),
        )


def sources(
    definition: FeatureDefinition,
    target: list[ChainTable],
    deps: Sequence[tuple[ResolvedDep, FeatureDefinition, list[ChainTable]]],
) -> tuple[Source, ...]:
    """Every table an increment reads: the target's and each dep's, per store of the chain."""
    ids = {c: c for c in definition.id_columns}
    found = [Source(definition.key, part, ids) for part in target]
    for dep, _, tables in deps:
        found += [Source(dep.key, part, dep.id_columns) for part in tables]
    return tuple(found)
