"""Join-type inference: the types of the columns a target and its deps join on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from metaxy_lake.graph import FeatureDefinition, ResolvedDep
from metaxy_lake.store.tables.chain import ChainTable, chain_id_types, first_table, held


def upstream_id_types(
    dep: ResolvedDep, tables: list[ChainTable], upstream: FeatureDefinition
) -> dict[str, pa.DataType]:
    """The types of the columns a dep joins on (its names after rename), as held.

    An identity's or expansion's id columns, an aggregation's ``on`` columns; the dep must
    have a table.
    """
    if dep.lineage != "aggregation":
        return {dep.id_columns[s]: t for s, t in chain_id_types(tables, upstream).items()}
    first = first_table(tables)
    assert first is not None, "only a dep with a table has held types"
    declared = {**upstream.user_columns, **upstream.id_types}
    stored = first.schema
    return {
        name: stored.field(column).type if column in stored.names else declared[column]
        for column, name in dep.columns.items()
        if name in dep.keys
    }


def join_types(
    definition: FeatureDefinition,
    target: list[ChainTable],
    id_types: Mapping[str, pa.DataType],
    deps: Sequence[tuple[ResolvedDep, FeatureDefinition, list[ChainTable]]],
) -> dict[str, pa.DataType]:
    """The types of the columns every dep joins on, so that empty relations join too.

    The target's where its table holds them, else the first dep's table that does, else
    the declared types (text when nothing says).
    """
    out: dict[str, pa.DataType] = {}
    if held(target):
        out.update({c: t for c, t in id_types.items() if c in definition.join_columns})
    for dep, upstream, tables in deps:
        if held(tables):
            for name, type_ in upstream_id_types(dep, tables, upstream).items():
                out.setdefault(name, type_)
    declared = {**definition.user_columns, **id_types}
    return {c: out.get(c) or declared.get(c, pa.string()) for c in definition.join_columns}
