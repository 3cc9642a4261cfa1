"""Resolving an increment: the tables a feature's increment reads, handed to the engine.

The target and every dependency are read through the store's fallback chain
(``store.chain``), all in the increment's one DuckDB session.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace

import duckdb
import pyarrow as pa

from metaxy_lake.engine import increment as engine
from metaxy_lake.engine.relations import (
    Relation,
    arrow_types,
    check_shard,
    filter_sql,
    latest,
    narwhals_flag,
)
from metaxy_lake.engine.sql import idents
from metaxy_lake.errors import InvalidFilterError, UnknownFeatureError
from metaxy_lake.graph import FeatureDefinition, FeatureGraph, FeatureKey, FeatureRef, ResolvedDep
from metaxy_lake.increment import Increment
from metaxy_lake.store.resolve.checkpointing import (
    FULL,
    Checkpointing,
    Scope,
    Source,
    Start,
    fingerprint,
    usable_reason,
)
from metaxy_lake.store.tables.chain import ChainTable, chain_id_types, chain_rows, open_chain
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.store.write.frames import prepare_samples, to_arrow
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


def upstream_id_types(
    dep: ResolvedDep, tables: list[ChainTable], upstream: FeatureDefinition
) -> dict[str, pa.DataType]:
    """The types of the columns a dep joins on (its names after rename), as held.

    An identity's or expansion's id columns, an aggregation's ``on`` columns; the dep must
    have a table.
    """
    if dep.lineage != "aggregation":
        return {dep.id_columns[s]: t for s, t in chain_id_types(tables, upstream).items()}
    first = next(t.table for t in tables if t.table is not None)
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
    if _held(target):
        out.update({c: t for c, t in id_types.items() if c in definition.join_columns})
    for dep, upstream, tables in deps:
        if _held(tables):
            for name, type_ in upstream_id_types(dep, tables, upstream).items():
                out.setdefault(name, type_)
    declared = {**definition.user_columns, **id_types}
    return {c: out.get(c) or declared.get(c, pa.string()) for c in definition.join_columns}


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
    checkpoint: bool = True,
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
    deps: list[tuple[ResolvedDep, FeatureDefinition, list[ChainTable]]] = []
    if definition.is_root:
        if samples is None:  # a root has nothing to resolve without its current samples
            target = [ChainTable(ctx, None)]
            samples = ctx.rows(con, None, definition, id_types).to_arrow_table()
        checked = prepare_samples(con, definition, to_arrow(samples), id_types)
        id_types = arrow_types(checked, definition.id_columns)
    else:
        for dep in definition.deps:
            dep_def = graph.get(dep.key)
            deps.append((dep, dep_def, open_chain(ctx, dep_def, settings)))
        keys = join_types(definition, target, id_types, deps)
        if not _held(target):  # the deps' tables fix the types of its id columns they join on
            id_types = {**id_types, **{c: keys[c] for c in definition.id_columns if c in keys}}
        for dep, dep_def, dep_tables in deps:
            if dep.lineage == "aggregation":  # its own id columns are not the target's
                own = chain_id_types(dep_tables, dep_def)
                dep_types = {c: own.get(c, pa.string()) for c in dep_def.id_columns}
            else:
                dep_types = {s: keys[n] for s, n in dep.id_columns.items()}
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
    sources = _sources(definition, target, deps)
    covered = _scope(con, request)
    scope_text = None if covered is None else covered.text(ctx)
    definition_digest = fingerprint(definition, settings)
    reason = "checkpoint=False" if not checkpoint else usable_reason(ctx, definition)
    if samples is not None and not reason:
        reason = "samples given"
    tracking = reason or _checkpointing(
        ctx, con, request, covered, definition_digest, sources, id_types
    )
    start = (
        Start(None, None, FULL, tracking)
        if isinstance(tracking, str)
        else tracking.start(_predicate_matches(request))
    )
    row_by_row = covered is not None and covered.row_by_row
    found = engine.resolve(
        con, replace(request, candidates=start.candidates, row_by_row=row_by_row)
    )
    if not isinstance(tracking, str):
        tracking.record(found)
    return Increment(
        definition.key,
        found.new,
        found.stale,
        found.orphaned,
        found.counts,
        path=start.path,
        candidates=start.count,
        reason=start.reason,
        id=increment_id(definition_digest, scope_text, sources, _digest(checked)),
        shard_columns=tuple(definition.join_columns),
    )


def _sources(
    definition: FeatureDefinition,
    target: list[ChainTable],
    deps: Sequence[tuple[ResolvedDep, FeatureDefinition, list[ChainTable]]],
) -> tuple[Source, ...]:
    """Every table an increment reads: the target's and each dep's, per store of the chain."""
    ids = {c: c for c in definition.id_columns}
    sources = [Source(definition.key, part, ids) for part in target]
    for dep, _, tables in deps:
        sources += [Source(dep.key, part, dep.id_columns) for part in tables]
    return tuple(sources)


def _scope(con: duckdb.DuckDBPyConnection, request: engine.IncrementRequest) -> Scope | None:
    """What the increment covers, as DuckDB renders it (None: a filter it cannot render)."""
    rows = request.target_rows
    try:
        features = {str(request.definition.key): filter_sql(con, rows, request.target_filters)}
        for source in request.upstream:
            renamed = engine.renamed_rows(source.rows, source.dep)
            features[str(source.dep.key)] = filter_sql(con, renamed, source.filters)
        return Scope(
            features,
            filter_sql(con, rows, request.global_filters),
            filter_sql(con, rows, request.staleness_predicates),
            request.shard,
        )
    except InvalidFilterError:  # the resolve itself says what is wrong with them
        return None


def increment_id(
    definition: str,
    scope: str | None,
    sources: Sequence[Source],
    samples: str | None = None,
) -> str:
    """``Increment.id``: a digest of the definition, scope and every table's version.

    Args:
        definition: The resolved definition's ``fingerprint``.
        scope: ``Scope.text`` (None: filters that cannot be rendered).
        sources: Every table read.
        samples: A digest of a root's ``samples``, when given.
    """
    tables: list[list[object]] = [
        [str(s.feature), s.part.store.root]
        + ([] if s.part.table is None else [s.part.table.identity, s.part.table.version])
        for s in sources
    ]
    spec = {
        "definition": definition,
        "scope": scope,
        "tables": tables,
        "samples": samples,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]


def _digest(samples: Relation | None) -> str | None:
    """A digest of a root's samples (ids and provenance), in no particular order."""
    if samples is None:
        return None
    rows = samples.project(f"md5(CAST(({idents(samples.columns)}) AS VARCHAR)) AS row").aggregate(
        "md5(string_agg(row, '' ORDER BY row))"
    )
    found = rows.fetchall()
    return str(found[0][0])


def _checkpointing(
    ctx: StoreContext,
    con: duckdb.DuckDBPyConnection,
    request: engine.IncrementRequest,
    scope: Scope | None,
    definition_digest: str,
    sources: tuple[Source, ...],
    id_types: Mapping[str, pa.DataType],
) -> Checkpointing | str:
    """The bookkeeping of a resolve that may start from a checkpoint, or why it may not."""
    if scope is None:
        return "filters that cannot be rendered"
    if not scope.row_by_row:
        return "a filter or predicate that is not row by row (a window or an aggregate)"
    definition = request.definition
    return Checkpointing(
        ctx,
        con,
        definition,
        definition_digest,
        scope.text(ctx),
        sources,
        {c: id_types[c] for c in definition.id_columns},
    )


def _predicate_matches(request: engine.IncrementRequest) -> Relation | None:
    """The ids of the target's live rows matching a staleness predicate (None: none given)."""
    if not request.staleness_predicates:
        return None
    ids = request.definition.id_columns
    live = latest(request.target_rows, ids)
    flagged = narwhals_flag(live, request.staleness_predicates, "_mxl_match", every=False)
    return flagged.filter("_mxl_match").project(idents(ids))


__all__ = [
    "filters_by_feature",
    "join_types",
    "resolve_update",
    "upstream_id_types",
]
