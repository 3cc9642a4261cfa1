"""Table maintenance: compaction (rows kept, files merged) and expiry of old versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from metaxy_lake.formats import LakeTable
from metaxy_lake.graph import FeatureRef
from metaxy_lake.ids import new_write_id
from metaxy_lake.store.commit import CommitRequest, WriteResult, commit
from metaxy_lake.store.context import DEFAULT_RETENTION, StoreContext
from metaxy_lake.store.writing import commit_info, stamp_for

__all__ = ["DEFAULT_RETENTION", "compact", "expire"]


def _compact(table: LakeTable, metadata: Mapping[str, str]) -> int | None:
    return table.compact(metadata)


def compact(ctx: StoreContext, feature: FeatureRef) -> WriteResult:
    """Rewrite a feature's small data files into large ones (see ``LakeStore.compact``)."""
    ctx.check_writable("compact")
    definition, graph = ctx.resolve(feature)
    ctx.format.require("compaction", f"compacting {definition.key}")
    stamp = stamp_for(graph, definition, new_write_id())
    table = ctx.open(definition, ctx.settings(graph))
    if table is None:
        return WriteResult(stamp.write_id, None, 0)
    traceable = ctx.format.capabilities.compaction_metadata
    request = CommitRequest(commit_info(stamp, "compact", 0), _compact, traceable=traceable)
    return commit(table, request)


def expire(ctx: StoreContext, feature: FeatureRef, older_than: dt.timedelta | None) -> int:
    """Remove table versions older than ``older_than`` (see ``LakeStore.expire``)."""
    older_than = ctx.retention if older_than is None else older_than
    ctx.check_writable("expire")
    definition, graph = ctx.resolve(feature)
    ctx.format.require("expiry", f"expiring versions of {definition.key}")
    table = ctx.open(definition, ctx.settings(graph))
    if table is None:
        return 0
    return table.expire(dt.datetime.now(dt.UTC) - older_than)
