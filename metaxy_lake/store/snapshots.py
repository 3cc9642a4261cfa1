"""A store's catalog of graph snapshots: push, history, load, and recording before writes.

The snapshots table (``catalog.snapshots``) lives in the store's own format under
``_catalog/snapshots``; pushes go through the one commit path.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Mapping
from enum import Enum
from typing import Final

import pyarrow as pa

from metaxy_lake.catalog import CommitInfo
from metaxy_lake.catalog.snapshots import (
    SNAPSHOT_PROPERTIES,
    SNAPSHOT_SCHEMA,
    SNAPSHOTS_DIR,
    SNAPSHOTS_TABLE,
    PushResult,
    SnapshotRecord,
    check_snapshot_table,
    snapshot_from_rows,
    snapshot_rows,
)
from metaxy_lake.engine.relations import scan
from metaxy_lake.engine.sql import lit
from metaxy_lake.errors import DamagedMetadataError, UnknownFeatureError, UnknownSnapshotError
from metaxy_lake.formats import LakeTable, TableRef
from metaxy_lake.graph import FeatureGraph
from metaxy_lake.graph.diff import diff
from metaxy_lake.graph.snapshot import GraphSnapshot
from metaxy_lake.ids import now_utc
from metaxy_lake.store.tables.commit import CommitRequest, appending, commit
from metaxy_lake.store.tables.context import StoreContext


class GitCommit(Enum):
    """A ``git_commit`` that is no commit id: how ``push_graph`` finds the commit."""

    DETECT = "<auto>"
    """Detect it from the working directory."""


AUTO: Final = GitCommit.DETECT
"""``push_graph``'s default ``git_commit``: detect it from the working directory."""

ABSENT_RECHECK_S = 30.0
"""How long a store trusts that it has no catalog before it looks again."""

log = logging.getLogger(__name__)
Recording = tuple[str, object, list[dict[str, object]]]


def snapshots_ref(ctx: StoreContext) -> TableRef:
    """Where the snapshots table lives."""
    return TableRef(SNAPSHOTS_TABLE, f"{ctx.root}/{SNAPSHOTS_DIR}")


def _open(ctx: StoreContext) -> LakeTable | None:
    table = ctx.format.open(snapshots_ref(ctx))
    if table is not None:
        check_snapshot_table(table.schema, table.properties, table.ref.uri)
    return table


def _rows(
    ctx: StoreContext, table: LakeTable | None, project: str | None
) -> list[dict[str, object]]:
    """Every recorded row of ``project`` (None: of every project), oldest recording first."""
    if table is None:
        return []
    con = ctx.engine.cursor()
    rel = scan(con, table.scan(), table.schema, ctx.engine.localizer(ctx.root, ctx.storage))
    if project is not None:
        rel = rel.filter(f"project = {lit(project)}")
    ordered = rel.order("recorded_at, feature_key")
    arrow: pa.Table = ordered.to_arrow_table()
    rows: list[dict[str, object]] = arrow.to_pylist()
    return rows


def _recordings(rows: list[dict[str, object]]) -> list[Recording]:
    """(version, recorded_at, rows) of each recording, oldest first.

    A recording holds each feature once. Two pushers released together recorded one
    snapshot twice within the same microsecond (1 run in 7 of the concurrent-push test),
    so rows of one (version, time) are split by the occurrence of their feature key:
    the recordings are of one version, hence alike.
    """
    out: dict[tuple[str, object, int], list[dict[str, object]]] = {}
    seen: dict[tuple[str, object, object], int] = {}
    for row in rows:
        version, at = str(row["snapshot_version"]), row["recorded_at"]
        nth = seen.get((version, at, row["feature_key"]), 0)
        seen[(version, at, row["feature_key"])] = nth + 1
        out.setdefault((version, at, nth), []).append(row)
    return [(version, at, group) for (version, at, _), group in out.items()]


def _whole(ctx: StoreContext, recordings: list[Recording]) -> list[GraphSnapshot]:
    """The snapshots of the recordings whose rows all parse, oldest first.

    A damaged row (a spec that is no JSON definition) spoils its recording only: it is
    logged and skipped, so one damaged row blocks no write, push or lineage.
    """
    where = snapshots_ref(ctx).uri
    out = []
    for version, _, rows in recordings:
        try:
            out.append(snapshot_from_rows(version, rows, where))
        except DamagedMetadataError as exc:
            log.warning("%s", exc)
    return out


def recorded_snapshots(ctx: StoreContext) -> dict[str, GraphSnapshot]:
    """Every whole snapshot recorded in the catalog of ``ctx`` or of a store of its chain.

    A snapshot version is a hash of the graph, so two catalogs holding one version hold
    the same graph. A catalog whose table is damaged is skipped (logged): what it
    recorded is unknown, and what the others recorded still serves.
    """
    out: dict[str, GraphSnapshot] = {}
    for store in (ctx, *(link.ctx for link in ctx.fallback)):
        try:
            table = _open(store)
        except DamagedMetadataError as exc:
            log.warning("%s; its graph snapshots are not used", exc)
            continue
        for snapshot in _whole(store, _recordings(_rows(store, table, ctx.project))):
            out.setdefault(snapshot.version, snapshot)
    return out


def damaged_rows(ctx: StoreContext) -> list[DamagedMetadataError]:
    """What is wrong with each damaged row of the catalog, of every project.

    Raises:
        DamagedMetadataError: The snapshots table itself cannot be opened.
    """
    where = snapshots_ref(ctx).uri
    out = []
    for version, _, rows in _recordings(_rows(ctx, _open(ctx), None)):
        for row in rows:
            try:
                snapshot_from_rows(version, [row], where)
            except DamagedMetadataError as exc:
                out.append(exc)
    return out


def load_snapshot(ctx: StoreContext, version: str | None) -> GraphSnapshot:
    """The definitions recorded under ``version`` (a unique prefix; None: the latest).

    Raises:
        UnknownSnapshotError: No recorded snapshot has that version.
        DamagedMetadataError: Every recording of that version has a damaged row.
    """
    recordings = _recordings(_rows(ctx, _open(ctx), ctx.project))
    if version is None:
        if not recordings:
            raise UnknownSnapshotError(
                f"{ctx.label} has no graph snapshot of project {ctx.project!r}: "
                "record one with `mxl graph push` or store.push_graph()"
            )
        version = recordings[-1][0]
    found = {v for v, _, _ in recordings if v.startswith(version)}
    if len(found) != 1:
        known = ", ".join(dict.fromkeys(v for v, _, _ in reversed(recordings))) or "none"
        what = "is ambiguous" if found else "is not recorded"
        raise UnknownSnapshotError(f"snapshot {version!r} {what} (recorded: {known})")
    (full,) = found
    newest_first = [rows for v, _, rows in reversed(recordings) if v == full]
    damage: DamagedMetadataError | None = None
    for rows in newest_first:
        try:
            return snapshot_from_rows(full, rows, snapshots_ref(ctx).uri)
        except DamagedMetadataError as exc:
            damage = damage or exc
    assert damage is not None, "a version found has a recording"
    raise damage


def graph_history(ctx: StoreContext) -> list[SnapshotRecord]:
    """Every recording of a snapshot of the project, newest first."""
    out = []
    for version, _, rows in reversed(_recordings(_rows(ctx, _open(ctx), ctx.project))):
        first = rows[0]
        out.append(
            SnapshotRecord(
                version=version,
                recorded_at=first["recorded_at"],  # type: ignore[arg-type]
                features=len(rows),
                git_commit=first["git_commit"],  # type: ignore[arg-type]
                message=first["message"],  # type: ignore[arg-type]
                tags=dict(first["tags"] or []),  # type: ignore[call-overload]
            )
        )
    return out


def detect_git_commit() -> str | None:
    """The commit checked out in the working directory, if it is a git repository."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def push_graph(
    ctx: StoreContext,
    graph: FeatureGraph,
    *,
    message: str | None = None,
    git_commit: str | GitCommit | None = None,
    tags: Mapping[str, str] | None = None,
) -> PushResult:
    """Record the graph unless it is the latest snapshot already (see ``LakeStore.push_graph``).

    Raises:
        UnknownFeatureError: The graph has no features.
    """
    if isinstance(git_commit, GitCommit):
        git_commit = detect_git_commit()
    ctx.check_writable("graph push")
    project = ctx.project
    snapshot = GraphSnapshot.of(graph)
    if not snapshot.features:
        raise UnknownFeatureError(
            "the graph has no features: import the module that declares them before pushing"
        )
    table = _open(ctx)
    whole = _whole(ctx, _recordings(_rows(ctx, table, project)))
    previous = whole[-1] if whole else None
    changes = diff(previous or GraphSnapshot.empty(), snapshot)
    if previous is not None and previous.version == snapshot.version:
        return PushResult(snapshot.version, new=False, diff=changes)
    rows = snapshot_rows(snapshot, project, now_utc(), git_commit, message, tags)
    if table is None:
        table = ctx.format.create(snapshots_ref(ctx), SNAPSHOT_SCHEMA, SNAPSHOT_PROPERTIES)
    # the same transition pushed twice at once is mostly recorded once, else harmlessly twice
    write_id = f"snapshot:{project}:{previous.version if previous else ''}:{snapshot.version}"
    info = CommitInfo(write_id, "push_graph", None, snapshot.version, rows.num_rows)
    result = commit(table, CommitRequest(info, appending(rows), unless_committed=True))
    ctx.catalog.recorded.add((project, snapshot.version))
    ctx.catalog.absent_since = None
    return PushResult(snapshot.version, new=not result.replayed, diff=changes)


def ensure_recorded(ctx: StoreContext, graph: FeatureGraph) -> None:
    """Once the catalog exists, record the snapshot a write runs under if it holds none.

    A recording with a damaged row does not count (the snapshot is recorded again); a
    snapshots table that is damaged itself records nothing (logged) and the write goes on:
    the rows matter more than their record, which the next write after a repair makes.
    """
    cache, project, version = ctx.catalog, ctx.project, graph.snapshot_version()
    if (project, version) in cache.recorded:
        return
    if cache.absent_since is not None and time.monotonic() - cache.absent_since < ABSENT_RECHECK_S:
        return
    try:
        table = _open(ctx)
    except DamagedMetadataError as exc:
        log.warning("%s; snapshot %s of this write is not recorded", exc, version)
        return
    if table is None:
        cache.absent_since = time.monotonic()
        return
    cache.absent_since = None
    held = {s.version for s in _whole(ctx, _recordings(_rows(ctx, table, project)))}
    if version not in held:
        push_graph(ctx, graph, git_commit=detect_git_commit(), message="recorded by a write")
    cache.recorded.add((project, version))
