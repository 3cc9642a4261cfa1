"""``mxl doctor``: list a store's damaged metadata and set aside what is safe to."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from metaxy_lake.cli.context import cli

app = typer.Typer()


@app.command()
def doctor(
    ctx: typer.Context,
    repair: Annotated[
        bool,
        typer.Option(help="Set aside damaged last commits and unreadable checkpoints."),
    ] = False,
) -> None:
    """Damaged metadata of the store; exits 1 while any remains."""
    run = cli(ctx)
    with run.out.working(f"examining {run.store.root}"):
        found = run.store.doctor(repair=repair)
    rows = [{**dataclasses.asdict(d), "kind": d.kind.value} for d in found]
    remaining = sum(d.repaired is None for d in found)
    title = f"damaged metadata of {run.store.root}"
    run.out.records("damage", rows, title=title, columns=["kind", "path", "repaired"])
    for item in found:  # the long parts, unwrapped, after the table
        done = f"set aside at {item.repaired}" if item.repaired else f"repair: {item.repair}"
        run.out.note(f"{item.path}: {item.detail}; {done}")
    run.out.value("remaining", remaining, "damage remaining")
    if remaining:
        raise typer.Exit(1)
