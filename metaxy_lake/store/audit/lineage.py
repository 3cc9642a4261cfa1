"""Lineage: the exact upstream rows a feature's rows came from (docs/design.md, Lineage rows).

It starts from the rows live at ``as_of`` and follows ``metaxy_upstream`` recursively:
the parent of an edge is the latest row of that upstream sample, in any store of the
chain and tombstones excluded, whose data version is the one recorded and whose write
time is at or before the child's. So the inputs are found even after they were
superseded or soft-deleted. Each row carries the code versions of the graph snapshot that
wrote it (from the catalog; null when that snapshot was never recorded).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.formats import AsOf
from metaxy_lake.graph import FeatureDefinition, FeatureGraph, FeatureKey, FeatureRef
from metaxy_lake.graph.snapshot import GraphSnapshot
from metaxy_lake.schema import (
    CREATED_AT,
    SNAPSHOT_VERSION,
    STORE,
    STRING_MAP,
    SYSTEM_SCHEMA,
    UPSTREAM,
    WRITE_ID,
)
from metaxy_lake.store.audit.groups import GroupReader
from metaxy_lake.store.audit.rows import (
    Rows,
    as_frame,
    history_rows,
    parent_row,
    union_fields,
    upstream_keys,
)
from metaxy_lake.store.audit.samples import id_values
from metaxy_lake.store.snapshots import recorded_snapshots
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.store.tables.reading import parse_as_of
from metaxy_lake.types import AsOfLike, SampleIds

FEATURE = "feature"
DEPTH = "depth"
PARENT = "parent_feature"
IDS = "ids"
VALUES = "values"
CODE_VERSIONS = "code_versions"
VERIFIED = "verified"


@dataclass(frozen=True)
class Reached:
    """One row reached by lineage, through the edge from ``parent`` (None at the start)."""

    definition: FeatureDefinition
    row: dict[str, Any]
    depth: int
    parent: FeatureKey | None
    verified: bool | None = None
    """Whether the row is known to be an input the child recorded: always through a 1:1
    or 1:N edge (matched by data version); through an aggregation, whether the group's
    rows found hash to the recorded value. None at depth 0."""

    @property
    def identity(self) -> tuple[object, ...]:
        """What makes the row one row: feature, store, write id and sample ids."""
        ids = id_values(self.row, self.definition.id_columns)
        return (self.definition.key, self.row.get(STORE), self.row[WRITE_ID], ids)


def walk(
    ctx: StoreContext,
    con: duckdb.DuckDBPyConnection,
    graph: FeatureGraph,
    start: Rows,
    as_of: AsOf | None,
    depth: int | None,
) -> tuple[list[Reached], dict[FeatureKey, pa.Schema]]:
    """Every row reached from ``start`` through its parents, breadth first."""
    settings = ctx.settings(graph)
    reached = [Reached(start.definition, row, 0, None) for row in start.rows]
    schemas = {start.definition.key: start.schema}
    frontier = reached
    level = 0
    while frontier and (depth is None or level < depth):
        level += 1
        found: dict[tuple[object, ...], Reached] = {}
        by_feature: dict[FeatureKey, list[Reached]] = {}
        for item in frontier:
            by_feature.setdefault(item.definition.key, []).append(item)
        for children in by_feature.values():
            child_def = children[0].definition
            rows = [c.row for c in children]
            for dep in child_def.deps:
                up = graph.get(dep.key)
                if dep.lineage == "aggregation":
                    edges = []
                    reader = GroupReader.open(ctx, con, settings, dep, up, as_of)
                    for child in rows:
                        members = reader.group(child, child[CREATED_AT])
                        schemas.setdefault(dep.key, members.schema)
                        recorded = dict(child[UPSTREAM] or []).get(str(dep.key))
                        verified = members.data_version == recorded
                        edges += [
                            Reached(up, m, level, child_def.key, verified) for m in members.members
                        ]
                else:
                    parents = history_rows(ctx, con, up, settings, upstream_keys(dep, rows), as_of)
                    schemas.setdefault(dep.key, parents.schema)
                    edges = []
                    for child in rows:
                        row = parent_row(dep, parents.rows, child)
                        if row is not None:
                            edges.append(Reached(up, row, level, child_def.key, True))
                for edge in edges:
                    found.setdefault((*edge.identity, child_def.key), edge)
        frontier = list({r.identity: r for r in found.values()}.values())
        reached += found.values()
    return reached, schemas


def lineage_frame(
    reached: Sequence[Reached],
    schemas: Mapping[FeatureKey, pa.Schema],
    snapshots: Mapping[str, GraphSnapshot],
) -> pa.Table:
    """The lineage rows (docs/design.md, Lineage rows)."""
    defs = {r.definition.key: r.definition for r in reached}
    id_fields, id_clash = union_fields(
        schemas[k].field(c) for k, d in defs.items() for c in d.id_columns
    )
    value_fields, value_clash = union_fields(
        schemas[k].field(c) for k, d in defs.items() for c in d.user_columns
    )
    schema = pa.schema(
        [
            (FEATURE, pa.string()),
            (DEPTH, pa.int32()),
            (PARENT, pa.string()),
            (IDS, pa.struct(id_fields)),
            *SYSTEM_SCHEMA,
            (VALUES, pa.struct(value_fields)),
            (CODE_VERSIONS, STRING_MAP),
            (STORE, pa.string()),
            (VERIFIED, pa.bool_()),
        ]
    )

    def pick(row: Mapping[str, Any], names: Iterable[str], clash: set[str]) -> dict[str, Any]:
        return {n: str(row[n]) if n in clash and row[n] is not None else row[n] for n in names}

    records = []
    for r in reached:
        key = str(r.definition.key)
        snapshot = snapshots.get(str(r.row[SNAPSHOT_VERSION]))
        recorded = snapshot.features.get(key) if snapshot else None
        records.append(
            {
                FEATURE: key,
                DEPTH: r.depth,
                PARENT: str(r.parent) if r.parent else None,
                IDS: pick(r.row, r.definition.id_columns, id_clash),
                **{c: r.row[c] for c in SYSTEM_SCHEMA.names},
                VALUES: pick(r.row, r.definition.user_columns, value_clash),
                CODE_VERSIONS: sorted(recorded.code_versions.items()) if recorded else None,
                STORE: r.row.get(STORE),
                VERIFIED: r.verified,
            }
        )
    return pa.Table.from_pylist(records, schema=schema)


def lineage(
    ctx: StoreContext,
    feature: FeatureRef,
    ids: SampleIds,
    as_of: AsOfLike | None = None,
    depth: int | None = None,
) -> nw.DataFrame[pa.Table]:
    """Where rows came from (see ``LakeStore.lineage``)."""
    definition, graph = ctx.resolve(feature)
    when = parse_as_of(as_of)
    con = ctx.engine.cursor()
    start = history_rows(ctx, con, definition, ctx.settings(graph), ids, when, live=True)
    reached, schemas = walk(ctx, con, graph, start, when, depth)
    return as_frame(lineage_frame(reached, schemas, recorded_snapshots(ctx)))
