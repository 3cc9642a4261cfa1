"""Explain: why a sample is new, stale or orphaned, per field (docs/design.md, Explain rows).

A stale field is compared between two states: the stored row (the code versions of the
snapshot that wrote it, and the upstream rows it was computed from, found as lineage
finds them) and what is expected now (the graph's code versions, the upstream live rows).
Each difference is a cause: ``code_version`` (stored → expected code version) or
``upstream_data`` (an upstream field's data version, with the commit that brought the
new one). A stale field with no difference found (say its snapshot was never recorded)
is ``code_version`` by elimination. With ``recursive``, each upstream data change is
explained in turn, between the upstream row used then and the one used now, up to the
roots.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.graph import FeatureDefinition, FeatureGraph, FeatureKey, FeatureRef
from metaxy_lake.graph.definition import ResolvedField
from metaxy_lake.graph.snapshot import GraphSnapshot
from metaxy_lake.schema import (
    CHANGED_FIELDS,
    CREATED_AT,
    DATA_VERSION_BY_FIELD,
    SNAPSHOT_VERSION,
    TIMESTAMP,
    UPSTREAM,
    WRITE_ID,
)
from metaxy_lake.store.audit.asked import asked_increment
from metaxy_lake.store.audit.groups import GROUP, GroupReader
from metaxy_lake.store.audit.kinds import CauseKind, Status
from metaxy_lake.store.audit.rows import Rows, as_frame, history_rows, parent_row, upstream_keys
from metaxy_lake.store.audit.samples import id_values
from metaxy_lake.store.resolve.scope import ResolveScope
from metaxy_lake.store.snapshots import recorded_snapshots
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.types import FilterExpr, SampleIds

CAUSE_SCHEMA = pa.schema(
    [
        ("feature", pa.string()),
        ("depth", pa.int32()),
        ("status", pa.string()),
        ("field", pa.string()),
        ("cause", pa.string()),
        ("upstream_feature", pa.string()),
        ("upstream_field", pa.string()),
        ("stored", pa.string()),
        ("expected", pa.string()),
        ("upstream_write_id", pa.string()),
        ("upstream_created_at", TIMESTAMP),
    ]
)
"""The columns of an explanation after ``ids`` (the sample asked about)."""


@dataclass(frozen=True)
class Cause:
    """One row of an explanation (``ids``: the sample asked about)."""

    ids: Mapping[str, Any]
    feature: str
    depth: int
    status: Status
    field: str | None
    cause: CauseKind
    upstream_feature: str | None = None
    upstream_field: str | None = None
    stored: str | None = None
    expected: str | None = None
    upstream_write_id: str | None = None
    upstream_created_at: Any = None


@dataclass(frozen=True)
class State:
    """One side of a comparison of a row's inputs.

    Attributes:
        code: Field key → code version it was (or is to be) computed with; None: unknown.
        parents: Upstream feature → the upstream row used (None: there is none).
        recorded: The row's ``metaxy_upstream``.
    """

    code: Mapping[str, str] | None
    parents: Mapping[FeatureKey, Mapping[str, Any] | None]
    recorded: Mapping[str, str]
    """Upstream feature key → the data version used (``''``: an optional dep had no row)."""


@dataclass(frozen=True)
class Change:
    """An upstream row that changed between two states, to explain in turn."""

    feature: FeatureKey
    field: str
    old: Mapping[str, Any]
    new: Mapping[str, Any]


def _data_version(row: Mapping[str, Any] | None, field: str) -> str | None:
    return None if row is None else dict(row[DATA_VERSION_BY_FIELD] or []).get(field)


def field_causes(
    base: Mapping[str, Any], field: ResolvedField, old: State, new: State
) -> tuple[list[Cause], list[Change]]:
    """Why ``field`` differs between two states: its causes, and the upstream changes.

    ``base`` holds the columns every cause shares (ids, feature, depth, status).
    """
    name = str(field.key)
    causes: list[Cause] = []
    changes: list[Change] = []
    here = {**base, "field": name}
    old_code = old.code.get(name) if old.code is not None else None
    new_code = new.code.get(name) if new.code is not None else None
    if old_code is not None and new_code is not None and old_code != new_code:
        causes.append(
            Cause(**here, cause=CauseKind.CODE_VERSION, stored=old_code, expected=new_code)
        )
    for up_key, up_field in field.deps:
        before, now = old.parents.get(up_key), new.parents.get(up_key)
        stored, expected = _data_version(before, str(up_field)), _data_version(now, str(up_field))
        then_empty = old.recorded.get(str(up_key)) == ""
        now_empty = new.recorded.get(str(up_key)) == ""
        upstream: dict[str, Any] = {
            "upstream_feature": str(up_key),
            "upstream_field": str(up_field),
        }
        if now_empty:  # an optional dep without a row now: deleted since, or never had one
            if not then_empty:
                causes.append(
                    Cause(**here, cause=CauseKind.UPSTREAM_DELETED, **upstream, stored=stored)
                )
            continue
        if now is None or (not then_empty and before is not None and stored == expected):
            continue  # unchanged, or its row cannot be found
        causes.append(
            Cause(
                **here,
                cause=CauseKind.UPSTREAM_NEW if then_empty else CauseKind.UPSTREAM_DATA,
                **upstream,
                stored="" if then_empty else stored,
                expected=expected,
                upstream_write_id=now[WRITE_ID],
                upstream_created_at=now[CREATED_AT],
            )
        )
        if before is not None and not before.get(GROUP):  # a group is explained no deeper
            changes.append(Change(up_key, str(up_field), before, now))
    if not causes:  # nothing else differs: the code it was computed with, by elimination
        causes.append(
            Cause(**here, cause=CauseKind.CODE_VERSION, stored=old_code, expected=new_code)
        )
    return causes, changes


def _recorded(row: Mapping[str, Any]) -> dict[str, str]:
    return dict(row[UPSTREAM] or [])


@dataclass
class Explainer:
    """What one explanation reads: the store, the graph, the recorded snapshots.

    ``scope`` holds, per upstream feature, the caller's filters on its live rows (theirs
    and the global ones): what the increment saw of an aggregation's group now.
    """

    ctx: StoreContext
    con: duckdb.DuckDBPyConnection
    graph: FeatureGraph
    snapshots: Mapping[str, GraphSnapshot]
    scope: Mapping[FeatureKey, Sequence[FilterExpr]] = dataclasses.field(default_factory=dict)

    def code_of(self, key: FeatureKey, row: Mapping[str, Any]) -> dict[str, str] | None:
        """The code versions the snapshot that wrote ``row`` recorded for ``key``."""
        snapshot = self.snapshots.get(str(row[SNAPSHOT_VERSION]))
        recorded = snapshot.features.get(str(key)) if snapshot else None
        return recorded.code_versions if recorded else None

    def rows(
        self,
        definition: FeatureDefinition,
        ids: SampleIds,
        *,
        live: bool = False,
        filters: Sequence[Any] = (),
    ) -> Rows:
        """Rows of ``definition``'s samples ``ids``: every one, or the live ones."""
        settings = self.ctx.settings(self.graph)
        return history_rows(
            self.ctx, self.con, definition, settings, ids, live=live, filters=filters
        )

    def parents(
        self, definition: FeatureDefinition, rows: Sequence[Mapping[str, Any]], *, live: bool
    ) -> list[dict[FeatureKey, Mapping[str, Any] | None]]:
        """Per row, the upstream row of each dep.

        The one it was computed from, or with ``live`` the one live now.
        """
        out: list[dict[FeatureKey, Mapping[str, Any] | None]] = [{} for _ in rows]
        settings = self.ctx.settings(self.graph)
        for dep in definition.deps if rows else ():
            up = self.graph.get(dep.key)
            if dep.lineage == "aggregation":  # the group, as one row
                reader = GroupReader.open(self.ctx, self.con, settings, dep, up)
                for parents, row in zip(out, rows, strict=True):
                    at, scope = (
                        (None, self.scope.get(dep.key, ())) if live else (row[CREATED_AT], ())
                    )
                    parents[dep.key] = reader.group(row, at, scope).as_row()
                continue
            found = self.rows(up, upstream_keys(dep, rows), live=live).rows
            by_ids = {id_values(r, up.id_columns): r for r in found} if live else {}
            for parents, row in zip(out, rows, strict=True):
                if live:
                    parents[dep.key] = by_ids.get(id_values(row, list(dep.id_columns.values())))
                else:
                    parents[dep.key] = parent_row(dep, found, row)
        return out

    def upstream_changes(self, base: Mapping[str, Any], changes: Sequence[Change]) -> list[Cause]:
        """Each upstream change explained between the row used then and now, to the roots."""
        out: list[Cause] = []
        for change in changes:
            definition = self.graph.get(change.feature)
            if definition.is_root:
                continue  # a root's data comes from outside the graph
            field = next(f for f in definition.fields if str(f.key) == change.field)
            old_parents, new_parents = (
                self.parents(definition, [row], live=False)[0] for row in (change.old, change.new)
            )
            old = State(
                self.code_of(definition.key, change.old), old_parents, _recorded(change.old)
            )
            new = State(
                self.code_of(definition.key, change.new), new_parents, _recorded(change.new)
            )
            here = {**base, "feature": str(definition.key), "depth": base["depth"] + 1}
            causes, deeper = field_causes(here, field, old, new)
            out += causes + self.upstream_changes(here, deeper)
        return out


def _stale(
    x: Explainer,
    definition: FeatureDefinition,
    rows: Sequence[Mapping[str, Any]],
    stored: Mapping[tuple[Any, ...], Mapping[str, Any]],
    matched: set[tuple[Any, ...]],
    recursive: bool,
) -> list[Cause]:
    used = [stored[id_values(r, definition.id_columns)] for r in rows]
    then = x.parents(definition, used, live=False)
    now = x.parents(definition, used, live=True)
    code = {str(f.key): f.code_version for f in definition.fields}
    out: list[Cause] = []
    for row, old_row, old_parents, new_parents in zip(rows, used, then, now, strict=True):
        ids = {c: row[c] for c in definition.id_columns}
        base: dict[str, Any] = {
            "ids": ids,
            "feature": str(definition.key),
            "depth": 0,
            "status": Status.STALE,
        }
        if id_values(row, definition.id_columns) in matched:
            out.append(Cause(**base, field=None, cause=CauseKind.PREDICATE))
        old = State(x.code_of(definition.key, old_row), old_parents, _recorded(old_row))
        new = State(code, new_parents, _recorded(row))
        for field in definition.fields:
            if str(field.key) in (row[CHANGED_FIELDS] or []):
                causes, changes = field_causes(base, field, old, new)
                out += causes + (x.upstream_changes(base, changes) if recursive else [])
    return out


def _orphaned(
    x: Explainer, definition: FeatureDefinition, rows: Sequence[Mapping[str, Any]]
) -> list[Cause]:
    now = x.parents(definition, rows, live=True)
    # the deps whose absence orphans a sample: the required ones (all, if none is)
    needed = {d.key for d in definition.deps if not d.optional} or {d.key for d in definition.deps}
    out: list[Cause] = []
    for row, parents in zip(rows, now, strict=True):
        ids = {c: row[c] for c in definition.id_columns}
        recorded = _recorded(row)
        for key, parent in parents.items():
            if parent is None and key in needed:
                out.append(
                    Cause(
                        ids,
                        str(definition.key),
                        0,
                        Status.ORPHANED,
                        None,
                        CauseKind.UPSTREAM_DELETED,
                        upstream_feature=str(key),
                        stored=recorded.get(str(key)),
                    )
                )
    return out


def explain(
    ctx: StoreContext,
    feature: FeatureRef,
    ids: SampleIds,
    *,
    scope: ResolveScope,
    recursive: bool = False,
) -> nw.DataFrame[pa.Table]:
    """Why samples need work (see ``LakeStore.explain``)."""
    definition, graph = ctx.resolve(feature)
    every = scope.global_filters
    per_feature = scope.by_feature(definition, graph)
    seen = {d.key: [*per_feature.get(d.key, []), *every] for d in definition.deps}
    x = Explainer(ctx, ctx.engine.cursor(), graph, recorded_snapshots(ctx), seen)
    start = x.rows(definition, ids, live=True)  # also checks and types the ids
    stored = {id_values(r, definition.id_columns): r for r in start.rows}
    work = asked_increment(ctx, definition, start.keys, start.rows, scope)
    predicates = scope.staleness_predicates
    matched: set[tuple[Any, ...]] = set()
    if predicates:
        any_holds = nw.any_horizontal(*predicates, ignore_nulls=False)
        hits = x.rows(definition, ids, live=True, filters=[any_holds])
        matched = {id_values(r, definition.id_columns) for r in hits.rows}
    causes = [
        Cause(
            {c: r[c] for c in definition.id_columns},
            str(definition.key),
            0,
            Status.NEW,
            None,
            CauseKind.NO_ROW,
        )
        for r in work.new
    ]
    causes += _stale(x, definition, work.stale, stored, matched, recursive)
    causes += _orphaned(x, definition, work.orphaned)
    schema = pa.schema([("ids", pa.struct(list(start.keys.schema))), *CAUSE_SCHEMA])
    return as_frame(pa.Table.from_pylist([asdict(c) for c in causes], schema=schema))
