"""Resolving an increment: the tables a feature's increment reads, handed to the engine.

The target and every dependency are read through the store's fallback chain
(``store.chain``), all in the increment's one DuckDB session; the checkpoint bookkeeping
(``checkpointing``) says where the engine starts, when the resolve may use one
(``usability``).
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pyarrow as pa

from metaxy_lake.engine import expected
from metaxy_lake.engine import increment as engine
from metaxy_lake.engine.relations import Relation, arrow_types, check_shard, latest, narwhals_flag
from metaxy_lake.engine.sql import idents
from metaxy_lake.graph import FeatureDefinition, FeatureRef, ResolvedDep
from metaxy_lake.increment import Increment
from metaxy_lake.store.resolve.checkpointing import Checkpointing, Start
from metaxy_lake.store.resolve.digests import fingerprint, increment_id, samples_digest
from metaxy_lake.store.resolve.join_types import join_types
from metaxy_lake.store.resolve.rows import DuckDBRows
from metaxy_lake.store.resolve.scope import RenderedScope, ResolveScope, render
from metaxy_lake.store.resolve.sources import sources
from metaxy_lake.store.resolve.usability import usability
from metaxy_lake.store.tables.chain import (
    ChainTable,
    chain_id_types,
    chain_rows,
    held,
    open_chain,
)
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.store.write.frames import prepare_samples, to_arrow
from metaxy_lake.types import FrameLike


def resolve_update(
    ctx: StoreContext,
    feature: FeatureRef,
    *,
    scope: ResolveScope,
    samples: FrameLike | None = None,
    checkpoint: bool = True,
) -> Increment:
    """What a feature needs to (re)compute (see ``LakeStore.resolve_update``)."""
    definition, graph = ctx.resolve(feature)
    settings = ctx.settings(graph)
    per_feature = scope.by_feature(definition, graph)
    check_shard(scope.shard)

    con = ctx.engine.cursor()  # the increment's temporary tables live and die with it
    target = open_chain(ctx, definition, settings)
    id_types = chain_id_types(target, definition)
    upstream: list[expected.UpstreamInput] = []
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
        if not held(target):  # the deps' tables fix the types of its id columns they join on
            id_types = {**id_types, **{c: keys[c] for c in definition.id_columns if c in keys}}
        for dep, dep_def, dep_tables in deps:
            if dep.lineage == "aggregation":  # its own id columns are not the target's
                own = chain_id_types(dep_tables, dep_def)
                dep_types = {c: own.get(c, pa.string()) for c in dep_def.id_columns}
            else:
                dep_types = {s: keys[n] for s, n in dep.id_columns.items()}
            rows = chain_rows(con, dep_tables, dep_def, dep_types)
            filters = [*dep.filters, *per_feature.get(dep.key, [])]
            upstream.append(expected.UpstreamInput(dep, rows, filters))
    request = engine.IncrementRequest(
        definition=definition,
        settings=settings,
        target_rows=chain_rows(con, target, definition, id_types),
        upstream=upstream,
        samples=checked,
        target_filters=per_feature.get(definition.key, []),
        global_filters=scope.global_filters,
        staleness_predicates=scope.staleness_predicates,
        shard=scope.shard,
    )
    read = sources(definition, target, deps)
    covered = _render(con, request, scope)
    scope_text = None if covered is None else covered.text(ctx)
    definition_digest = fingerprint(definition, settings)
    unusable = usability(
        ctx, definition, checkpoint=checkpoint, samples_given=samples is not None, scope=covered
    )
    tracking = (
        None
        if unusable is not None or scope_text is None
        else Checkpointing(
            ctx,
            con,
            definition,
            definition_digest,
            scope_text,
            read,
            {c: id_types[c] for c in definition.id_columns},
        )
    )
    start = (
        Start.full(str(unusable))
        if tracking is None
        else tracking.start(_predicate_matches(request))
    )
    row_by_row = covered is not None and covered.row_by_row
    found = engine.resolve(
        con, replace(request, candidates=start.candidates, row_by_row=row_by_row)
    )
    if tracking is not None:
        tracking.record(found)
    return Increment(
        definition.key,
        DuckDBRows(found),
        found.counts,
        path=start.path,
        candidates=start.count,
        reason=start.reason,
        id=increment_id(definition_digest, scope_text, read, samples_digest(checked)),
        shard_columns=tuple(definition.join_columns),
    )


def _render(
    con: duckdb.DuckDBPyConnection, request: engine.IncrementRequest, scope: ResolveScope
) -> RenderedScope | None:
    """The request's scope as DuckDB renders it over its relations."""
    upstream = [
        (s.dep, expected.renamed_rows(s.rows, s.dep), list(s.filters)) for s in request.upstream
    ]
    return render(
        con, request.definition, request.target_rows, list(request.target_filters), upstream, scope
    )


def _predicate_matches(request: engine.IncrementRequest) -> Relation | None:
    """The ids of the target's live rows matching a staleness predicate (None: none given)."""
    if not request.staleness_predicates:
        return None
    ids = request.definition.id_columns
    live = latest(request.target_rows, ids)
    flagged = narwhals_flag(live, request.staleness_predicates, "_mxl_match", every=False)
    return flagged.filter("_mxl_match").project(idents(ids))


__all__ = ["resolve_update"]
