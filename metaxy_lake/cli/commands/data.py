"""Commands over a store's data: status, plan, read, history, delete, compact, expire."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated, Any

import narwhals as nw
import pyarrow as pa
import typer

from metaxy_lake import config
from metaxy_lake.catalog import Commit
from metaxy_lake.cli.context import Cli, cli
from metaxy_lake.cli.render_lineage import ids_text
from metaxy_lake.cli.samples import IdOption, flat, parse_ids
from metaxy_lake.errors import InvalidFilterError
from metaxy_lake.filters import parse_filter
from metaxy_lake.graph import FeatureDefinition
from metaxy_lake.increment import Increment, ResolvePath
from metaxy_lake.schema import CHANGED_FIELDS, CREATED_AT, STORE, WRITE_ID
from metaxy_lake.store import LakeStore
from metaxy_lake.types import IncrementKind

app = typer.Typer()

FeatureArg = Annotated[str, typer.Argument(help="Feature key, e.g. example/crop.")]


def plain(value: Any) -> Any:
    """An Arrow value as JSON-able Python: maps as dicts, times as ISO 8601 text."""
    if isinstance(value, list) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {str(k): plain(v) for k, v in value} if value else {}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def plain_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of an Arrow table as JSON-able dicts."""
    return [{k: plain(v) for k, v in row.items()} for row in table.to_pylist()]


def live_rows(
    store: LakeStore, feature: FeatureDefinition, filters: list[nw.Expr] | None = None
) -> int:
    """How many samples of a feature have a live row (matching ``filters``)."""
    counted = store.read(feature.key, filters=filters).select(nw.len()).collect()
    return int(counted.item())


def commit_row(commit: Commit) -> dict[str, Any]:
    """One commit of a feature's table, as ``history`` and ``describe`` show it."""
    return {
        "store": commit.store,
        "version": commit.version,
        "timestamp": commit.timestamp.isoformat(),
        "operation": commit.operation,
        "rows": commit.rows,
        "write_id": commit.write_id,
        "snapshot_version": commit.snapshot_version,
    }


def live_by_store(store: LakeStore, feature: FeatureDefinition) -> str:
    """How many live rows each store of a fallback chain serves, e.g. ``dev 10, prod 90``."""
    counted = (
        store.read(feature.key, columns=[STORE], with_store=True)
        .group_by(STORE)
        .agg(nw.len())
        .collect()
        .to_arrow()
        .to_pylist()
    )
    served = {row[STORE]: row["len"] for row in counted}
    names = [store.name, *store.fallback]
    return ", ".join(f"{name} {served.get(name, 0)}" for name in names)


def path_text(inc: Increment) -> str:
    """How a resolve was computed: the candidates a checkpoint left, or a full scan and why."""
    if inc.path is ResolvePath.CHECKPOINT:
        return f"checkpoint, {inc.candidates:,} checked"
    return f"full scan ({inc.reason})" if inc.reason else "full scan"


def feature_status(
    store: LakeStore, feature: FeatureDefinition, shards: int | None = None
) -> dict[str, Any]:
    """One feature's line of ``mxl status``: live rows and the increment's counts.

    Through a fallback chain it also says how many live rows each store serves; with
    ``shards``, how many samples to compute each of that many shards holds.
    """
    inc = store.resolve_update(feature.key)
    counts = inc.counts()
    row = {
        "feature": str(feature.key),
        "live": live_rows(store, feature),
        **{str(kind): counts[kind] for kind in IncrementKind},
        "root": feature.is_root,
        "path": path_text(inc),
    }
    if store.fallback:
        row["live_by_store"] = live_by_store(store, feature)
    if shards is not None:
        row["per_shard"] = inc.shard_counts(shards)
    return row


@app.command()
def status(
    ctx: typer.Context,
    features: Annotated[
        list[str] | None, typer.Argument(help="Feature keys (every feature by default).")
    ] = None,
    assert_in_sync: Annotated[
        bool, typer.Option(help="Exit 1 when any feature has work to do (for CI gates).")
    ] = False,
    sample: IdOption = None,
    shards: Annotated[
        int | None,
        typer.Option(min=1, help="Also show how many samples to compute each of N shards holds."),
    ] = None,
) -> None:
    """Per feature: live, new, stale, orphaned; --id: one sample."""
    run = cli(ctx)
    ids = parse_ids(sample)
    if ids is not None:
        in_sync = sample_status(run, ids, features)
    else:
        chosen = run.features(features)
        progress = run.out.progress(chosen, "resolving")
        rows = [feature_status(run.store, f, shards) for f in progress]
        in_sync = not any(r["new"] or r["stale"] or r["orphaned"] for r in rows)
        run.out.records("features", rows, title=f"status of {run.store.root}")
    run.out.value("in_sync", in_sync, "in sync")
    if assert_in_sync and not in_sync:
        raise typer.Exit(1)


def sample_status(run: Cli, ids: dict[str, str], features: list[str] | None) -> bool:
    """Show where one sample stands in each feature; whether it is in sync everywhere."""
    keys = {str(f.key) for f in run.features(features)}
    with run.out.working("resolving"):
        table = run.store.sample_status(ids, graph=run.graph).to_arrow()
    rows = [flat(r) for r in plain_rows(table) if r["feature"] in keys]
    shown = ["feature", "status", CHANGED_FIELDS, CREATED_AT, WRITE_ID, STORE]
    run.out.records("samples", rows, title=f"where {ids_text(ids)} stands", columns=shown)
    return not any(r["status"] in tuple(IncrementKind) for r in rows)


def _plan_samples(inc: Increment, ids: list[str], limit: int) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    for kind, frame, extra in (
        (IncrementKind.NEW, inc.new, []),
        (IncrementKind.STALE, inc.stale, [CHANGED_FIELDS]),
        (IncrementKind.ORPHANED, inc.orphaned, []),
    ):
        got = frame.select(*ids, *extra).sort(ids).head(limit).collect().to_arrow()
        for row in plain_rows(got):
            changed = row.pop(CHANGED_FIELDS, None)
            samples.append({"status": kind, **row, "changed_fields": changed or []})
    return samples


@app.command()
def plan(
    ctx: typer.Context,
    feature: FeatureArg,
    limit: Annotated[int, typer.Option(help="Samples to list per kind.", min=0)] = 20,
) -> None:
    """One feature's increment: samples and changed fields."""
    run = cli(ctx)
    definition = run.feature(feature)
    with run.out.working(f"resolving {definition.key}"):
        inc = run.store.resolve_update(definition.key)
        counts = inc.counts()
        samples = _plan_samples(inc, list(definition.id_columns), limit)
    run.out.value("feature", str(definition.key))
    run.out.value("counts", counts)
    run.out.value("path", path_text(inc))
    run.out.records("samples", samples, title=f"plan for {definition.key} (first {limit} per kind)")


def filters_of(
    store: LakeStore, definition: FeatureDefinition, where: str | None
) -> list[nw.Expr] | None:
    """``--where`` text as filter expressions (None without one).

    Checked against the types of the columns as read (``parse_filter``): an id column's
    type is known from its table, where the definition may not declare it.
    """
    if where is None:
        return None
    schema = store.read(definition.key).head(0).collect().to_arrow().schema  # no row read
    return [parse_filter(where, dict(zip(schema.names, schema.types, strict=True)))]


def as_of_of(text: str | None) -> str | int | None:
    """``--as-of``: a table version (ASCII digits) or ISO 8601 time; checked by the store."""
    return int(text) if text is not None and text.isascii() and text.isdigit() else text


@app.command()
def read(
    ctx: typer.Context,
    feature: FeatureArg,
    where: Annotated[str | None, typer.Option(help="Filter, e.g. \"lang = 'en'\".")] = None,
    columns: Annotated[
        list[str] | None, typer.Option("--columns", "-c", help="Columns to show (repeat).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.", min=0)] = 20,
    as_of: Annotated[str | None, typer.Option(help="A table version or an ISO 8601 time.")] = None,
) -> None:
    """A feature's live rows (as of a time or version)."""
    run = cli(ctx)
    definition = run.feature(feature)
    frame = run.store.read(
        definition.key,
        filters=filters_of(run.store, definition, where),
        columns=columns,
        as_of=as_of_of(as_of),
    )
    with run.out.working(f"reading {definition.key}"):
        rows = plain_rows(frame.head(limit).collect().to_arrow())
    run.out.records("rows", rows, title=f"{definition.key} (first {limit} rows)")


@app.command()
def history(
    ctx: typer.Context,
    feature: FeatureArg,
    limit: Annotated[int | None, typer.Option(help="Commits to show.", min=1)] = None,
) -> None:
    """The commits of a feature's table, newest first."""
    run = cli(ctx)
    definition = run.feature(feature)
    rows = [commit_row(c) for c in run.store.history(definition.key, limit)]
    run.out.records("commits", rows, title=f"history of {definition.key}")


def _confirm(run: Cli, what: str) -> None:
    if not sys.stdin.isatty():
        raise typer.BadParameter(f"{what}: pass --yes to confirm (no terminal to ask on)")
    if not run.out.confirm(f"{what}?"):
        raise typer.Abort()


@app.command()
def delete(
    ctx: typer.Context,
    feature: FeatureArg,
    where: Annotated[str, typer.Option(help="Which samples, e.g. \"sample_uid = 's1'\".")],
    hard: Annotated[
        bool, typer.Option(help="Rewrite files and drop history (default: tombstones).")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Count the matches, delete nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask to confirm.")] = False,
) -> None:
    """Delete the samples matching --where (soft by default)."""
    run = cli(ctx)
    definition = run.feature(feature)
    if not where.strip():
        raise InvalidFilterError("--where is empty: name the samples to delete")
    filters = filters_of(run.store, definition, where)
    matches = live_rows(run.store, definition, filters)
    run.out.value("matches", matches, "matching samples")
    if dry_run or matches == 0:
        run.out.value("deleted", 0)
        return
    kind = "hard-delete" if hard else "soft-delete"
    if not yes:
        _confirm(run, f"{kind} {matches} samples of {definition.key}")
    result = run.store.delete(definition.key, filters or [], soft=not hard)
    run.out.value("deleted", result.rows)
    run.out.value("version", result.version, "table version")


@app.command()
def compact(ctx: typer.Context, feature: FeatureArg) -> None:
    """Rewrite small data files into large ones (rows kept)."""
    run = cli(ctx)
    result = run.store.compact(run.feature(feature).key)
    run.out.value("version", result.version, "table version")


def parse_duration(text: str) -> dt.timedelta:
    """A duration option (``7d``, ``12h``...) as a timedelta.

    Raises:
        typer.BadParameter: The text is not a duration.
    """
    try:
        return config.parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def expire(
    ctx: typer.Context,
    feature: FeatureArg,
    older_than: Annotated[
        str | None,
        typer.Option(help="Keep versions newer than this (7d, 12h...; the store's retention)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Also versions a checkpoint still reads (full scan next).")
    ] = False,
) -> None:
    """Remove versions older than --older-than (store retention)."""
    run = cli(ctx)
    keep = parse_duration(older_than) if older_than is not None else None
    removed = run.store.expire(run.feature(feature).key, keep, force=force)
    run.out.value("removed", removed)
