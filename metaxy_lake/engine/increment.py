"""The increment (docs/design.md, Increment semantics), computed by DuckDB in one query.

``resolve`` takes an ``IncrementRequest``: the target's rows and, for a root, the current
samples, else each dependency's rows. ``engine.expected`` builds a lazy relation of what
the target should hold (ids, carried upstream columns, provenance and data-version
columns); ``compare`` joins it with the target's live rows once, materialises the rows
that need work in a temporary table of the increment's own DuckDB session, and splits
them into new, stale and orphaned.

One expected row stands for ``FeatureDefinition.join_columns``: the id columns, or an
expansion's parent columns (its stored children are compared per parent, ``_parents``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import narwhals as nw

from metaxy_lake.engine.expected import (
    Expected,
    UpstreamInput,
    early_shard,
    expected_from_samples,
    expected_from_upstream,
    named,
)
from metaxy_lake.engine.recipe import MISSING_UPSTREAM, HashSettings, map_value
from metaxy_lake.engine.relations import (
    SRC,
    Relation,
    in_shard,
    latest,
    materialize,
    narwhals_flag,
    only_samples,
    query,
)
from metaxy_lake.engine.sql import ident, idents, lit, string_list, string_map
from metaxy_lake.errors import MissingUpstreamValueError
from metaxy_lake.graph.definition import FeatureDefinition
from metaxy_lake.schema import (
    CHANGED_FIELDS,
    DATA_VERSION,
    DATA_VERSION_BY_FIELD,
    PROVENANCE,
    PROVENANCE_BY_FIELD,
)
from metaxy_lake.types import IncrementKind

_KIND = "_mxl_kind"
_IN_EXPECTED = "_mxl_e"
_IN_TARGET = "_mxl_t"
_SCOPE = "_mxl_scope"
_PREDICATE = "_mxl_pred"
_T_PROVENANCE = "_mxl_t_prov"
_T_BY_FIELD = "_mxl_t_pbf"
_ROWS_TABLE = "_mxl_increment"
_ORPHANS_TABLE = "_mxl_orphaned"


@dataclass(frozen=True)
class IncrementRequest:
    """Everything one increment is computed from.

    Attributes:
        definition: The target feature.
        settings: The record hash settings.
        target_rows: Every stored row of the target (the live rows are taken here).
        upstream: For a non-root target, each dependency's rows and filters.
        samples: For a root target, the complete current set of samples (checked).
        target_filters: Expressions scoping the target's stored live rows.
        global_filters: Expressions applied to every dependency (or the samples) and to
            the target.
        staleness_predicates: Expressions on the target's live rows; a match is stale.
        shard: ``(index, count)``: only the samples of this shard.
            With ``row_by_row`` (no filter is a window or an aggregate), the shard is
            taken from the deps' rows before the live-row rule, where it is one of ids.
        candidates: Only these samples (their id columns) can need work: every other
            sample is known to be up to date (a checkpoint's candidates); only their
            rows are read. None: every sample is checked.
    """

    definition: FeatureDefinition
    settings: HashSettings
    target_rows: Relation
    upstream: Sequence[UpstreamInput] = ()
    samples: Relation | None = None
    target_filters: Sequence[nw.Expr] = ()
    global_filters: Sequence[nw.Expr] = ()
    staleness_predicates: Sequence[nw.Expr] = ()
    shard: tuple[int, int] | None = None
    candidates: Relation | None = None
    row_by_row: bool = False


@dataclass(frozen=True)
class IncrementRelations:
    """The materialised increment: relations over temporary tables, and row counts."""

    new: Relation
    stale: Relation
    orphaned: Relation
    counts: dict[str, int]


def _changed_fields(field_values: dict[str, str]) -> str:
    cases = [
        f"CASE WHEN {value} IS DISTINCT FROM {map_value(_T_BY_FIELD, f)} THEN {lit(f)} END"
        for f, value in sorted(field_values.items())
    ]
    listed = f"[{', '.join(cases)}]::VARCHAR[]" if cases else string_list([])
    return f"list_filter({listed}, lambda x: x IS NOT NULL)"


def _parents(children: Relation, keys: Sequence[str], fields: Sequence[str]) -> Relation:
    """An expansion's stored children, one row per parent, as ``compare`` reads a target.

    Only the children in scope (the target and global filters) count: a field's stored
    provenance is the one they share, NULL (so, changed) when they disagree; the sample
    provenance likewise. A parent is in scope when any child is, and matches the
    staleness predicates when an in-scope child does. A child whose parent columns are
    null names no parent and is never compared.
    """
    scoped = f"FILTER (WHERE {_SCOPE})"

    def shared(sql: str) -> str:
        return (
            f"CASE WHEN count(DISTINCT {sql}) {scoped} = 1 "
            f"AND count({sql}) {scoped} = count(*) {scoped} THEN min({sql}) {scoped} END"
        )

    by_field = string_map(fields, [shared(map_value(PROVENANCE_BY_FIELD, f)) for f in fields])
    return query(
        children,
        f"SELECT {idents(keys)}, {shared(ident(PROVENANCE))} AS {_T_PROVENANCE}, "
        f"{by_field} AS {_T_BY_FIELD}, true AS {_IN_TARGET}, bool_or({_SCOPE}) AS {_SCOPE}, "
        f"bool_or({_PREDICATE} AND {_SCOPE}) AS {_PREDICATE} FROM {SRC} WHERE {named(keys)} "
        f"GROUP BY {idents(keys)}",
    )


def resolve(con: duckdb.DuckDBPyConnection, request: IncrementRequest) -> IncrementRelations:
    """Compute the increment of ``request``; every relation in it must belong to ``con``.

    Raises:
        MissingUpstreamValueError: A required upstream data version is null (the message
            names the feature, the field and the sample).
    """
    r = request
    if r.samples is not None:
        expected = expected_from_samples(
            r.definition, r.samples, r.settings, r.global_filters, r.shard
        )
    else:
        expected = expected_from_upstream(
            r.definition,
            r.upstream,
            r.settings,
            r.global_filters,
            r.shard,
            r.candidates,
            r.row_by_row,
        )
    try:
        return compare(con, request, expected)
    except duckdb.Error as exc:
        if MISSING_UPSTREAM in str(exc):
            raise MissingUpstreamValueError(str(exc).split(MISSING_UPSTREAM, 1)[1]) from exc
        raise


def compare(
    con: duckdb.DuckDBPyConnection, request: IncrementRequest, expected: Expected
) -> IncrementRelations:
    """Join expected rows with the target's live rows once and split the result.

    The joined rows that need work are computed once, into a temporary table of ``con``
    (a session of this increment's own, which every relation here must belong to); their
    maps and changed fields are built only then. Target rows outside the target and
    global filters are never reported; a stored row matching a staleness predicate is
    stale even when its provenance is current.
    """
    definition, shard = request.definition, request.shard
    keys = list(definition.join_columns)
    stored = request.target_rows
    if request.candidates is not None:
        stored = only_samples(stored, request.candidates, {c: c for c in definition.id_columns})
    stored = early_shard(stored, keys, definition.id_columns, shard)
    live = in_shard(latest(stored, definition.id_columns), keys, shard)
    scope = [*request.target_filters, *request.global_filters]
    scoped = narwhals_flag(live, scope, _SCOPE, every=True)
    flagged = narwhals_flag(scoped, request.staleness_predicates, _PREDICATE, every=False)
    if definition.expands:
        target = _parents(flagged, keys, definition.field_names)
    else:
        target = flagged.project(
            f"{idents(keys)}, {ident(PROVENANCE)} AS {_T_PROVENANCE}, "
            f"{ident(PROVENANCE_BY_FIELD)} AS {_T_BY_FIELD}, true AS {_IN_TARGET}, "
            f"{_SCOPE}, {_PREDICATE}"
        )
    joined = expected.rows.project(f"*, true AS {_IN_EXPECTED}").join(target, keys, how="outer")
    kind = (
        f"CASE WHEN {_IN_TARGET} IS NULL THEN {lit(IncrementKind.NEW)} "
        f"WHEN NOT {_SCOPE} THEN NULL "
        f"WHEN {_IN_EXPECTED} IS NULL THEN {lit(IncrementKind.ORPHANED)} "
        f"WHEN {ident(PROVENANCE)} IS DISTINCT FROM {_T_PROVENANCE} OR {_PREDICATE} "
        f"THEN {lit(IncrementKind.STALE)} END"
    )
    needs_work = query(
        joined, f"SELECT * FROM (SELECT *, {kind} AS {_KIND} FROM {SRC}) WHERE {_KIND} IS NOT NULL"
    )
    built = ", ".join(f"{sql} AS {ident(c)}" for c, sql in expected.finish.items())
    is_stale = f"{_KIND} = {lit(IncrementKind.STALE)}"
    changed = f"CASE WHEN {is_stale} THEN {_changed_fields(expected.field_values)} END"
    finished = query(
        needs_work, f"SELECT *, {built}, {changed} AS {ident(CHANGED_FIELDS)} FROM {SRC}"
    )
    columns = expected.columns
    shown = [ident(c) for c in columns if c not in (DATA_VERSION_BY_FIELD, DATA_VERSION)]
    result = finished.project(
        ", ".join(shown)
        + f", {ident(PROVENANCE_BY_FIELD)} AS {ident(DATA_VERSION_BY_FIELD)}"
        + f", {ident(PROVENANCE)} AS {ident(DATA_VERSION)}"
        + f", {ident(CHANGED_FIELDS)}, {_KIND}"
    )
    rows = materialize(con, result, _ROWS_TABLE)
    counts = {str(kind): 0 for kind in IncrementKind}  # plain text keys, as users print them
    found = con.execute(f"SELECT {_KIND}, count(*) FROM {_ROWS_TABLE} GROUP BY ALL").fetchall()
    counts.update(found)

    def of_kind(name: str, names: Sequence[str]) -> Relation:
        return rows.filter(f"{_KIND} = {lit(name)}").project(idents(names))

    if counts[IncrementKind.ORPHANED]:  # the stored rows in scope (an expansion's: the children)
        in_scope = scoped.filter(_SCOPE).project(idents(live.columns))
        orphan_rows = in_scope.join(of_kind(IncrementKind.ORPHANED, keys), keys, how="semi")
    else:
        orphan_rows = live.limit(0)
    orphaned = materialize(con, orphan_rows, _ORPHANS_TABLE)
    if definition.expands:  # the stored children of the orphaned parents
        counts[IncrementKind.ORPHANED] = len(orphaned)
    return IncrementRelations(
        new=of_kind(IncrementKind.NEW, columns),
        stale=of_kind(IncrementKind.STALE, [*columns, CHANGED_FIELDS]),
        orphaned=orphaned,
        counts=counts,
    )


__all__ = ["IncrementRelations", "IncrementRequest", "UpstreamInput", "resolve"]
