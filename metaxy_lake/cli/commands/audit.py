"""Audit commands: ``mxl lineage`` (what produced a sample), ``mxl explain`` (why)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from metaxy_lake.cli.commands.data import FeatureArg, as_of_of, plain_rows
from metaxy_lake.cli.context import cli
from metaxy_lake.cli.render_lineage import ids_text, render_lineage
from metaxy_lake.cli.samples import IdOption, flat, parse_ids

app = typer.Typer()


class LineageFormat(StrEnum):
    """How ``mxl lineage`` draws the rows reached."""

    tree = "tree"
    mermaid = "mermaid"
    json = "json"


def _sample(pairs: list[str] | None) -> dict[str, str]:
    ids = parse_ids(pairs)
    if ids is None:
        raise typer.BadParameter("name the sample with --id COLUMN=VALUE")
    return ids


@app.command()
def lineage(
    ctx: typer.Context,
    feature: FeatureArg,
    sample: IdOption = None,
    as_of: Annotated[str | None, typer.Option(help="An ISO 8601 time: the rows then.")] = None,
    depth: Annotated[int | None, typer.Option(help="Edges to follow (all).", min=0)] = None,
    fmt: Annotated[
        LineageFormat, typer.Option("--format", "-f", help="tree, mermaid or json.")
    ] = LineageFormat.tree,
) -> None:
    """The exact upstream rows that produced a sample (as of a time)."""
    run = cli(ctx)
    ids = _sample(sample)
    definition = run.feature(feature)
    with run.out.working(f"tracing {definition.key}"):
        table = run.store.lineage(definition.key, ids, as_of=as_of_of(as_of), depth=depth)
        rows = table.to_arrow().to_pylist()
    if not rows:
        run.out.note(f"{definition.key} has no live row of {ids_text(ids)}")
    plain = plain_rows(table.to_arrow())
    run.show("rows", plain, render_lineage(rows, plain, fmt.value))


@app.command()
def explain(
    ctx: typer.Context,
    feature: FeatureArg,
    sample: IdOption = None,
    recursive: Annotated[
        bool, typer.Option(help="Follow upstream changes to their causes, up to the roots.")
    ] = False,
) -> None:
    """Why a sample is new, stale or orphaned: per field and cause."""
    run = cli(ctx)
    ids = _sample(sample)
    definition = run.feature(feature)
    with run.out.working(f"explaining {definition.key}"):
        table = run.store.explain(definition.key, ids, recursive=recursive).to_arrow()
    rows = [flat(r) for r in plain_rows(table)]
    if not rows:
        run.out.note(f"{definition.key} ({ids_text(ids)}): nothing to do")
    shown = ["feature", "depth", "status", "field", "cause", "upstream_feature"]
    shown += ["upstream_field", "stored", "expected", "upstream_write_id"]
    title = f"why {definition.key} ({ids_text(ids)}) needs work"
    run.out.records("causes", rows, title=title, columns=shown)
