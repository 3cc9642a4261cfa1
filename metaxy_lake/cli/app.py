"""``mxl``: the command line (``mxl demo`` for now)."""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from metaxy_lake.demo import Phase, run
from metaxy_lake.errors import MetaxyLakeError
from metaxy_lake.store import LakeStore

app = typer.Typer(
    name="mxl",
    help="metaxy_lake: which samples to (re)compute, kept in lakehouse tables.",
    no_args_is_help=True,
    add_completion=False,
)


class Output(StrEnum):
    """How results are printed."""

    text = "text"
    json = "json"


@app.callback()
def _main() -> None:
    """metaxy_lake: which samples to (re)compute, kept in lakehouse tables."""


def _render(console: Console, phase: Phase) -> None:
    table = Table(title=phase.title, title_justify="left")
    for column in ("feature", "new", "stale", "orphaned", "changed fields"):
        table.add_column(
            column, justify="right" if column in ("new", "stale", "orphaned") else "left"
        )
    for s in phase.statuses:
        table.add_row(
            s.feature, str(s.new), str(s.stale), str(s.orphaned), ", ".join(s.changed_fields) or "-"
        )
    console.print(table)
    if phase.versions_changed:
        console.print(f"feature versions changed: {', '.join(phase.versions_changed)}")


@app.command()
def demo(
    samples: Annotated[int, typer.Option(help="Number of videos.")] = 5,
    root: Annotated[
        str | None, typer.Option(help="Store root (a temporary directory by default).")
    ] = None,
    output: Annotated[Output, typer.Option(help="text or json.")] = Output.text,
) -> None:
    """Run the reference scenario: Video → Crop → Faces, SpeechToText, then bump Crop's audio."""
    with tempfile.TemporaryDirectory(prefix="mxl-demo-") as tmp:
        store = LakeStore(root or tmp)
        phases = run(store, samples)
        if output is Output.json:
            print(json.dumps({"root": store.root, "phases": [asdict(p) for p in phases]}, indent=2))
            return
        console = Console()
        console.print(
            f"[bold]metaxy_lake demo[/bold]: {samples} videos, local Delta store {store.root}"
        )
        for phase in phases:
            _render(console, phase)
        console.print(
            "The face detector never ran again: only Crop and SpeechToText were recomputed."
        )


def main() -> None:
    """Entry point: errors print one clear line and exit non-zero."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app(standalone_mode=True)
    except MetaxyLakeError as exc:
        if debug:
            raise
        Console(stderr=True).print(f"[red]error:[/red] {exc}")
        raise SystemExit(1) from None
