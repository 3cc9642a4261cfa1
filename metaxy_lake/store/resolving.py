"""Resolving an increment: the tables a feature's increment reads, handed to the engine.

The target and every dependency are read through the store's fallback chain
(``store.chain``), all in the increment's one DuckDB session.
"""

from __future__ import annotations

import pyarrow as pa

from metaxy_lake.engine import increment as engine
from metaxy_lake.engine.relations import Relation, arrow_types
from metaxy_lake.errors import InvalidShardError, UnknownFeatureError
from metaxy_lake.graph import FeatureDefinition, FeatureGraph, FeatureKey, FeatureRef, ResolvedDep
from metaxy_lake.increment import Increment
from metaxy_lake.store.chain import ChainTable, chain_id_types, chain_rows, open_chain
from metaxy_lake.store.context import StoreContext
from metaxy_lake.store.frames import prepare_samples, to_arrow
from metaxy_lake.types import Filters, FiltersByFeature, FrameLike, filter_list


def filters_by_feature(
    definition: FeatureDefinition, graph: FeatureGraph, filters: FiltersByFeature | None
) -> dict[FeatureKey, list[object]]:
    """``resolve_update``'s filters by feature key.

    Raises:
        UnknownFeatureError: A filter names a feature that is neither the target nor one
            of its deps.
    """
    allowed = {definition.key, *(d.key for d in definition.deps)}
    out: dict[FeatureKey, list[object]] = {}
    for ref, exprs in (filters or {}).items():
        key = graph.get(ref).key
        if key not in allowed:
            raise UnknownFeatureError(
                f"filters name {key}, which is neither {definition.key} nor one of its deps"
            )
        out.setdefault(key, []).extend(filter_list(exprs))
    return out


def check_shard(shard: tuple[int, int] | None) -> None:
    """Raise ``InvalidShardError`` unless ``shard`` is ``(index, count)``, 0 <= index < count."""
    if shard is not None and not (
        len(shard) == 2 and all(isinstance(n, int) for n in shard) and 0 <= shard[0] < shard[1]
    ):
        raise InvalidShardError(
            f"shard must be (index, count) with 0 <= index < count, got {shard}"
        )


def upstream_id_types(
    dep: ResolvedDep, tables: list[ChainTable], upstream: FeatureDefinition
) -> dict[str, pa.DataType]:
    """The target's id types as a dependency's tables fix them (its names after rename).

    An identity dep's id columns are the target's; an aggregation's ``on`` columns are.
    """
    if dep.lineage == "identity":
        return {dep.id_columns[s]: t for s, t in chain_id_types(tables, upstream).items()}
    first = next((t.table for t in tables if t.table is not None), None)
    declared = {**upstream.user_columns, **upstream.id_types}
    out: dict[str, pa.DataType] = {}
    for stored, name in dep.columns.items():
        if name in dep.keys:
            known = first.schema.field(stored).type if first is not None else None
            out[name] = known or declared.get(stored, pa.string())
    return out


def _held(tables: list[ChainTable]) -> bool:
    return any(t.table is not None for t in tables)


def resolve_update(
    ctx: StoreContext,
    feature: FeatureRef,
    *,
    samples: FrameLike | None = None,
    filters: FiltersByFeature | None = None,
    global_filters: Filters = None,
    staleness_predicates: Filters = None,
    shard: tuple[int, int] | None = None,
) -> Increment:
    """What a feature needs to (re)compute (see ``LakeStore.resolve_update``)."""
    definition, graph = ctx.resolve(feature)
    settings = ctx.settings(graph)
    per_feature = filters_by_feature(definition, graph, filters)
    check_shard(shard)

    con = ctx.engine.cursor()  # the increment's temporary tables live and die with it
    target = open_chain(ctx, definition, settings)
    id_types = chain_id_types(target, definition)
    upstream: list[engine.UpstreamInput] = []
    checked: Relation | None = None
    if definition.is_root:
        if samples is None:  # a root has nothing to resolve without its current samples
            target = [ChainTable(ctx, None)]
            samples = ctx.rows(con, None, definition, id_types).to_arrow_table()
        checked = prepare_samples(con, definition, to_arrow(samples), id_types)
        id_types = arrow_types(checked, definition.id_columns)
    else:
        for dep in definition.deps:
            dep_def = graph.get(dep.key)
            dep_tables = open_chain(ctx, dep_def, settings)
            fixes_ids = dep.lineage != "expansion" and not _held(target)
            if fixes_ids and _held(dep_tables):  # the first table fixes id types
                id_types = upstream_id_types(dep, dep_tables, dep_def)
            if dep.lineage == "identity":
                dep_types = {s: id_types.get(n, pa.string()) for s, n in dep.id_columns.items()}
            else:  # its own id columns are not the target's
                dep_types = chain_id_types(dep_tables, dep_def)
            rows = chain_rows(con, dep_tables, dep_def, dep_types)
            scope = [*dep.filters, *per_feature.get(dep.key, [])]
            upstream.append(engine.UpstreamInput(dep, rows, scope))
    request = engine.IncrementRequest(
        definition=definition,
        settings=settings,
        target_rows=chain_rows(con, target, definition, id_types),
        upstream=upstream,
        samples=checked,
        target_filters=per_feature.get(definition.key, []),
        global_filters=filter_list(global_filters),
        staleness_predicates=filter_list(staleness_predicates),
        shard=shard,
    )
    found = engine.resolve(con, request)
    return Increment(definition.key, found.new, found.stale, found.orphaned, found.counts)


__all__ = ["check_shard", "filters_by_feature", "resolve_update", "upstream_id_types"]
