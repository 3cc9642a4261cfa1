"""Table maintenance: compaction (rows kept, files merged) and expiry of old versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from metaxy_lake.catalog.checkpoints import newest_per_target, remove_checkpoints, superseded
from metaxy_lake.errors import ExpiryRefusedError
from metaxy_lake.formats import Capability, LakeTable
from metaxy_lake.graph import FeatureKey, FeatureRef
from metaxy_lake.ids import new_write_id
from metaxy_lake.store.tables.commit import CommitRequest, WriteResult, commit
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.store.write.writing import commit_info, stamp_for

__all__ = ["compact", "expire"]


def _compact(table: LakeTable, metadata: Mapping[str, str]) -> int | None:
    return table.compact(metadata)


def compact(ctx: StoreContext, feature: FeatureRef) -> WriteResult:
    """Rewrite a feature's small data files into large ones (see ``LakeStore.compact``)."""
    ctx.check_writable("compact")
    definition, graph = ctx.resolve(feature)
    ctx.format.require(Capability.COMPACTION, f"compacting {definition.key}")
    stamp = stamp_for(graph, definition, new_write_id())
    table = ctx.open(definition, ctx.settings(graph))
    if table is None:
        return WriteResult(stamp.write_id, None, 0)
    traceable = Capability.COMPACTION_METADATA in ctx.format.capabilities
    request = CommitRequest(commit_info(stamp, "compact", 0), _compact, traceable=traceable)
    return commit(table, request)


def expire(
    ctx: StoreContext, feature: FeatureRef, older_than: dt.timedelta | None, force: bool = False
) -> int:
    """Remove table versions older than ``older_than`` (see ``LakeStore.expire``).

    Raises:
        ExpiryRefusedError: Without ``force``, a version to remove is one the newest
            checkpoint of some target still reads (named, with how to proceed).
    """
    older_than = ctx.retention if older_than is None else older_than
    ctx.check_writable("expire")
    definition, graph = ctx.resolve(feature)
    ctx.format.require(Capability.EXPIRY, f"expiring versions of {definition.key}")
    table = ctx.open(definition, ctx.settings(graph))
    if table is None:
        return 0
    cutoff = dt.datetime.now(dt.UTC) - older_than
    if not force:
        _check_protected(ctx, table, definition.key, cutoff)
    removed = table.expire(cutoff)
    name = definition.key.table_name
    remove_checkpoints(ctx.root, ctx.storage, name, superseded(ctx.root, ctx.storage, name, cutoff))
    return removed


def _check_protected(
    ctx: StoreContext, table: LakeTable, key: FeatureKey, cutoff: dt.datetime
) -> None:
    """Refuse to expire a version the newest checkpoint of a target (any scope) reads."""
    read = {
        (target, state.version)
        for target, checkpoint in newest_per_target(ctx.root, ctx.storage).items()
        for state in checkpoint.tables
        if state.feature == str(key) and state.store == ctx.root and state.version is not None
    }
    if not read:
        return
    made = {c.version: c.timestamp for c in table.history()}
    for target, version in sorted(read, key=str):
        when = made.get(version)
        if version != table.version and when is not None and when < cutoff:
            raise ExpiryRefusedError(
                f"{ctx.label}: expiring {key} before {cutoff.isoformat()} would remove "
                f"version {version}, which the newest checkpoint of {target} reads (its next "
                "resolve would scan in full): resolve it first, keep more history, or "
                "expire with force"
            )
