"""Writing to a store: appends of validated rows, and soft or hard deletes.

Every change goes through the one commit path (``store.commit``), and only ever to the
primary store: a fallback chain is read (a soft delete tombstones what the chain serves,
so a sample prod holds stays deleted in dev), never written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from metaxy_lake.catalog import CommitInfo
from metaxy_lake.catalog.commit_log import newest_stamp
from metaxy_lake.engine.recipe import HashSettings
from metaxy_lake.engine.relations import arrow_types, latest, narwhals_filter
from metaxy_lake.engine.sql import idents
from metaxy_lake.engine.stamping import Stamp, stamp_rows, tombstones
from metaxy_lake.errors import MetaxyLakeError
from metaxy_lake.failpoints import WRITE_AFTER_COMMIT, WRITE_BEFORE_DATA_FILES, failpoint
from metaxy_lake.formats import VANISHED_TRIES, Capability, LakeTable
from metaxy_lake.graph import FeatureDefinition, FeatureGraph, FeatureRef
from metaxy_lake.ids import new_write_id, now_utc
from metaxy_lake.schema import table_schema
from metaxy_lake.store.snapshots import ensure_recorded
from metaxy_lake.store.tables.chain import (
    ChainTable,
    chain_id_types,
    chain_rows,
    held,
    open_chain,
)
from metaxy_lake.store.tables.commit import CommitRequest, WriteResult, appending, commit
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.store.tables.contract import columns_to_add, stored_id_types, table_properties
from metaxy_lake.store.write.frames import prepare_write, to_arrow
from metaxy_lake.types import Filters, FrameLike, filter_list

FLOOR_WINDOW = 16
"""Newest commits of a table a write stamps after (docs/on-disk-format.md, section 5): a
write is live over every commit that returned before it started, unless this many others
landed in between. Reading them (measured, 2 cores, SeaweedFS): Delta ~1 ms local, ~7-13
ms on S3 (one log file a commit); Iceberg ~4-13 ms (the metadata holds every snapshot);
Lance ~4 ms local, ~75-120 ms on S3 (it opens the latest version, ~40 ms, then reads one
transaction file a commit), against 35-240 ms for a one-row write."""


def stamp_for(
    graph: FeatureGraph,
    definition: FeatureDefinition,
    write_id: str,
    table: LakeTable | None = None,
) -> Stamp:
    """What a commit of ``definition`` stamps: versions now, the write clock, the write id.

    The time is the write clock's, but after every time the ``FLOOR_WINDOW`` newest
    commits of ``table`` stamped: a later commit wins whatever the writers' clocks say.

    Args:
        graph: The graph the commit is made under.
        definition: The feature.
        write_id: The commit's write id.
        table: The feature's table as the write opened it (None: none exists yet, or the
            commit stamps no rows, as a compaction).
    """
    after = newest_stamp(table.history(FLOOR_WINDOW)) if table is not None else None
    return Stamp(
        graph.feature_version(definition.key), graph.snapshot_version(), now_utc(after), write_id
    )


def commit_info(stamp: Stamp, operation: str, rows: int) -> CommitInfo:
    """The metadata recorded with a commit made under ``stamp`` (its time included)."""
    return CommitInfo(
        stamp.write_id,
        operation,
        stamp.feature_version,
        stamp.snapshot_version,
        rows,
        created_at=stamp.created_at,
    )


def _id_types(
    ctx: StoreContext,
    table: LakeTable | None,
    definition: FeatureDefinition,
    settings: HashSettings,
) -> dict[str, pa.DataType]:
    """The id types a write must keep: the primary's table's, else the chain's first one's."""
    if table is not None or not ctx.fallback:
        return stored_id_types(table, definition)
    return chain_id_types(open_chain(ctx, definition, settings), definition)


Matched = tuple[LakeTable | None, pa.Table, pa.Schema, Stamp]
"""The table a delete commits to (None: the primary store has none yet), its rows, the
schema of a table created for them, and the stamp of its commit (after the table's newest)."""


@dataclass(frozen=True)
class _DeleteRead:
    """What a delete reads: the live rows of a feature matching its filters.

    Attributes:
        ctx: The store written.
        definition: The feature.
        graph: The graph the delete's commit is made under.
        settings: The record hash settings of the feature's table.
        filters: Which live rows are deleted.
        soft: Tombstones (soft) or the keys to remove (hard).
        write_id: The delete's write id.
    """

    ctx: StoreContext
    definition: FeatureDefinition
    graph: FeatureGraph
    settings: HashSettings
    filters: Filters
    soft: bool
    write_id: str

    def matched_again(self) -> Matched | None:
        """``matched``, read again when it failed and the table has moved on since it opened.

        An expiry may remove the files of the version the read opened (after a compaction
        replaced them) while it reads: a fresh read, like a commit's retry, sees the latest.
        """
        for _ in range(1, VANISHED_TRIES):
            opened: list[LakeTable | None] = []
            try:
                return self.matched(opened)
            except MetaxyLakeError:
                raise
            except Exception:
                now = self.ctx.open(self.definition, self.settings)
                before = opened[0] if opened else None
                if before is None or now is None or now.version == before.version:
                    raise
        return self.matched([])

    def matched(self, opened: list[LakeTable | None]) -> Matched | None:
        """Read what the delete commits: tombstones (soft) or the keys to remove (hard).

        None when no store of the chain has the table. The primary table opened is put in
        ``opened`` before anything is read.
        """
        ctx, definition, settings = self.ctx, self.definition, self.settings
        # a soft delete hides what the chain serves; a hard delete removes the primary's rows
        if self.soft:
            tables = open_chain(ctx, definition, settings)
        else:
            tables = [ChainTable(ctx, ctx.open(definition, settings))]
        table = tables[0].table
        opened.append(table)
        if not held(tables):
            return None
        id_types = chain_id_types(tables, definition)
        schema = table_schema(definition.id_columns, id_types, definition.user_columns)
        rows = chain_rows(ctx.engine.cursor(), tables, definition, id_types)
        matched = narwhals_filter(
            latest(rows, definition.id_columns, include_deleted=not self.soft),
            filter_list(self.filters),
        )
        stamp = stamp_for(self.graph, definition, self.write_id, table)
        if self.soft:
            ids = list(definition.id_columns)
            data = tombstones(matched, table.schema if table else schema, ids, stamp)
        else:
            data = matched.project(idents(definition.id_columns)).to_arrow_table()
        return table, data, schema, stamp


def _create(
    ctx: StoreContext, definition: FeatureDefinition, settings: HashSettings, schema: pa.Schema
) -> LakeTable:
    ref = ctx.table_ref(definition.key)
    return ctx.format.create(ref, schema, table_properties(definition, settings))


def write(
    ctx: StoreContext, feature: FeatureRef, frame: FrameLike, write_id: str | None = None
) -> WriteResult:
    """Validate a frame and append it in one commit (see ``LakeStore.write``)."""
    ctx.check_writable("write")
    definition, graph = ctx.resolve(feature)
    settings = ctx.settings(graph)
    table = ctx.open(definition, settings)
    given = to_arrow(frame)
    con = ctx.engine.cursor()  # the frame's temporary table lives and dies with it
    data = prepare_write(con, definition, given, _id_types(ctx, table, definition, settings))
    new_columns = columns_to_add(table, definition) if table is not None else []
    if given.num_rows == 0:
        return WriteResult(write_id or new_write_id(), None, 0)
    stamp = stamp_for(graph, definition, write_id or new_write_id(), table)
    id_types = arrow_types(data, definition.id_columns)
    schema = table_schema(definition.id_columns, id_types, definition.user_columns)
    rows = stamp_rows(definition, data, settings, stamp, schema)
    if table is None:
        table = _create(ctx, definition, settings, schema)
    elif new_columns:
        ctx.format.require(Capability.SCHEMA_EVOLUTION, f"adding columns to {definition.key}")
        table.add_columns(new_columns)
    rows = rows.select(table.schema.names)  # the table's own column order
    ensure_recorded(ctx, graph)
    request = CommitRequest(
        commit_info(stamp, "write", rows.num_rows),
        appending(rows),
        unless_committed=write_id is not None,
    )
    failpoint(WRITE_BEFORE_DATA_FILES)
    result = commit(table, request)
    failpoint(WRITE_AFTER_COMMIT)
    return result


def delete(ctx: StoreContext, feature: FeatureRef, filters: Filters, soft: bool) -> WriteResult:
    """Delete the samples whose live row matches ``filters`` (see ``LakeStore.delete``)."""
    ctx.check_writable("delete" if soft else "hard delete")
    definition, graph = ctx.resolve(feature)
    if not soft:
        ctx.format.require(Capability.HARD_DELETE, f"a hard delete from {definition.key}")
    settings = ctx.settings(graph)
    write_id = new_write_id()
    found = _DeleteRead(ctx, definition, graph, settings, filters, soft, write_id).matched_again()
    if found is None:
        return WriteResult(write_id, None, 0)
    table, data, schema, stamp = found
    if soft:
        if data.num_rows and table is None:
            table = _create(ctx, definition, settings, schema)
        action = appending(data)
    else:

        def action(table: LakeTable, metadata: Mapping[str, str]) -> int:
            return table.delete_keys(data, metadata)

    if data.num_rows == 0 or table is None:
        return WriteResult(stamp.write_id, None, 0)
    operation = "delete" if soft else "hard_delete"
    return commit(table, CommitRequest(commit_info(stamp, operation, data.num_rows), action))
