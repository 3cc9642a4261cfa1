"""``mxl graph``: push, history, diff and render the feature graph's snapshots."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from metaxy_lake.cli import render
from metaxy_lake.cli.context import Cli, cli
from metaxy_lake.errors import UnknownSnapshotError
from metaxy_lake.graph.diff import GraphDiff, diff
from metaxy_lake.graph.snapshot import GraphSnapshot

app = typer.Typer(help="Record, compare and draw the feature graph.", no_args_is_help=True)

LATEST, CODE = "latest", "code"


class Format(StrEnum):
    """How a graph or diff is drawn."""

    tree = "tree"
    mermaid = "mermaid"
    dot = "dot"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="tree, mermaid, dot or json.")]


def _tags(pairs: list[str] | None) -> dict[str, str]:
    tags = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--tag {pair!r} is not KEY=VALUE")
        tags[key] = value
    return tags


def _show_diff(run: Cli, changes: GraphDiff, fmt: Format) -> None:
    run.show("diff", changes.to_json(), render.render_diff(changes, fmt.value))


@app.command()
def push(
    ctx: typer.Context,
    message: Annotated[str | None, typer.Option("--message", "-m", help="A note to keep.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE label (repeat).")] = None,
    fmt: FormatOption = Format.tree,
) -> None:
    """Record the graph as a snapshot; print what changed."""
    run = cli(ctx)
    result = run.store.push_graph(message=message, tags=_tags(tag), graph=run.graph)
    run.out.value("snapshot_version", result.snapshot_version, "snapshot")
    run.out.value("new", result.new, "recorded now")
    if not result.new:
        run.out.note("unchanged: the latest snapshot is this graph already")
        return
    _show_diff(run, result.diff, fmt)


@app.command()
def history(ctx: typer.Context) -> None:
    """Every recorded snapshot of the project, newest first."""
    run = cli(ctx)
    rows = [
        {
            "version": r.version,
            "recorded_at": r.recorded_at.isoformat(),
            "features": r.features,
            "git_commit": r.git_commit,
            "message": r.message,
            "tags": dict(r.tags),
        }
        for r in run.store.graph_history()
    ]
    run.out.records("snapshots", rows, title="graph snapshots")


def snapshot_of(run: Cli, which: str) -> GraphSnapshot:
    """``code`` (the graph the features modules declare), ``latest``, or a recorded version."""
    if which == CODE:
        return GraphSnapshot.of(run.graph)
    if which == LATEST:
        try:
            return run.store.load_snapshot(None)
        except UnknownSnapshotError:
            run.out.note("no snapshot recorded yet: comparing with an empty graph")
            return GraphSnapshot.empty()
    return run.store.load_snapshot(which)


@app.command("diff")
def diff_command(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="A snapshot version, latest or code.")] = LATEST,
    new: Annotated[str, typer.Argument(help="A snapshot version, latest or code.")] = CODE,
    fmt: FormatOption = Format.tree,
) -> None:
    """What changed between two snapshots (latest → code)."""
    run = cli(ctx)
    _show_diff(run, diff(snapshot_of(run, old), snapshot_of(run, new)), fmt)


@app.command("render")
def render_command(
    ctx: typer.Context,
    fmt: FormatOption = Format.tree,
    feature: Annotated[str | None, typer.Option(help="Draw around this feature only.")] = None,
    up: Annotated[int | None, typer.Option(help="Upstream levels around --feature.", min=0)] = None,
    down: Annotated[
        int | None, typer.Option(help="Downstream levels around --feature.", min=0)
    ] = None,
    snapshot: Annotated[str, typer.Option(help="A snapshot version, latest or code.")] = CODE,
) -> None:
    """Draw the graph (of the code, or of a recorded snapshot)."""
    run = cli(ctx)
    graph = snapshot_of(run, snapshot)
    if feature is not None:
        graph = render.focus(graph, feature, up=up, down=down)
    elif up is not None or down is not None:
        raise typer.BadParameter("--up and --down need --feature")
    run.show("graph", render.graph_json(graph), render.render_graph(graph, fmt.value))
