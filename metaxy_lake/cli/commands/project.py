"""Commands about the project: init, list, describe, config show, demo."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.table import Table

from metaxy_lake import config
from metaxy_lake.cli.commands.data import FeatureArg, commit_row, live_rows
from metaxy_lake.cli.context import cli
from metaxy_lake.demo import Phase
from metaxy_lake.demo import run as run_demo
from metaxy_lake.errors import ConfigError
from metaxy_lake.graph.snapshot import FeatureSnapshot
from metaxy_lake.store import LakeStore
from metaxy_lake.types import IncrementKind

app = typer.Typer()
config_app = typer.Typer(help="The project configuration.", no_args_is_help=True)

TEMPLATE = """\
# metaxy_lake project configuration. Every string may use ${{VAR}} or ${{VAR:-default}};
# credentials come from the environment (AWS_ACCESS_KEY_ID, ...), never from this file.
project = "{project}"
# Modules (or module:attr entry points) that declare the features: mxl imports them.
{features_line}
default_store = "local"
# hash_length = 64                      # hex characters of every version and hash

[stores.local]
root = "./.metaxy/local"                # a local directory, or s3://bucket/prefix
format = "{format}"                        # delta | iceberg | lance
# hash_algorithm = "md5"                # md5 | sha256
# read_only = false
# storage_options = {{ endpoint_url = "${{AWS_ENDPOINT_URL}}" }}

# [stores.prod]
# root = "s3://my-bucket/metaxy"
# read_only = true
"""


@app.command()
def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Project directory.")] = Path("."),
    features: Annotated[
        str | None, typer.Option(help="Module that declares the features, e.g. pipeline.features.")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Project name (the directory's).")] = None,
    table_format: Annotated[
        str, typer.Option("--store-format", help="Table format of the local store.")
    ] = "delta",
) -> None:
    """Write a commented metaxy_lake.toml (never overwrites)."""
    target = path / config.CONFIG_FILE
    if target.exists():
        raise ConfigError(f"{target} exists already: edit it, or remove it to start over")
    line = f'features = ["{features}"]' if features else '# features = ["pipeline.features"]'
    name = project or path.resolve().name
    path.mkdir(parents=True, exist_ok=True)
    target.write_text(TEMPLATE.format(project=name, features_line=line, format=table_format))
    cli(ctx).out.rendered("wrote", str(target), f"wrote {target}")


def _feature_row(snapshot: FeatureSnapshot) -> dict[str, Any]:
    return {
        "feature": snapshot.key,
        "fields": [f.key for f in snapshot.fields],
        "deps": snapshot.dependencies,
        "version": snapshot.version,
    }


@app.command("list")
def list_features(ctx: typer.Context) -> None:
    """The features: keys, fields, dependencies, versions."""
    run = cli(ctx)
    snapshots = [FeatureSnapshot.of(run.graph, f) for f in run.features()]
    run.out.records("features", [_feature_row(s) for s in snapshots], title="features")


@app.command()
def describe(ctx: typer.Context, feature: FeatureArg) -> None:
    """One feature: spec, versions, table, rows, last commit."""
    run = cli(ctx)
    definition = run.feature(feature)
    snapshot = FeatureSnapshot.of(run.graph, definition)
    store = run.store
    last = store.history(definition.key, limit=1)
    run.out.value("feature", snapshot.key)
    run.out.value("version", snapshot.version, "feature version")
    run.out.value("id_columns", list(snapshot.id_columns), "id columns")
    run.out.value("deps", snapshot.dependencies)
    run.out.records(
        "fields",
        [
            {
                "field": f.key,
                "code_version": f.code_version,
                "version": f.version,
                "deps": list(f.deps),
            }
            for f in snapshot.fields
        ],
        title="fields",
    )
    run.out.value("table", store.table_uri(definition.key))
    run.out.value("live", live_rows(store, definition), "live rows")
    run.out.value("last_commit", commit_row(last[0]) if last else None, "last commit")


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """The configuration in effect (credentials redacted)."""
    run = cli(ctx)
    if run.config is None:
        raise ConfigError(
            f"no {config.CONFIG_FILE} here or above: run `mxl init`, or pass --config PATH"
        )
    for key, value in config.config_json(run.config).items():
        run.out.value(key, value)


COUNTS = tuple(IncrementKind)


def _phase_table(phase: Phase) -> RenderableType:
    table = Table(title=phase.title, title_justify="left")
    for column in ("feature", "new", "stale", "orphaned", "changed fields"):
        table.add_column(column, justify="right" if column in COUNTS else "left")
    for s in phase.statuses:
        counts = (str(s.new), str(s.stale), str(s.orphaned))
        table.add_row(s.feature, *counts, ", ".join(s.changed_fields) or "-")
    if not phase.versions_changed:
        return table
    return Group(table, f"feature versions changed: {', '.join(phase.versions_changed)}")


@app.command()
def demo(
    ctx: typer.Context,
    samples: Annotated[int, typer.Option(help="Number of videos.", min=1)] = 5,
) -> None:
    """Run the reference scenario (Crop's audio is bumped)."""
    run = cli(ctx)
    with tempfile.TemporaryDirectory(prefix="mxl-demo-") as tmp:
        store = LakeStore(run.options.root or tmp)
        phases = run_demo(store, samples)
    run.out.note(f"[bold]metaxy_lake demo[/bold]: {samples} videos, a local Delta store")
    run.out.value("root", store.root, "store")
    run.out.rendered("phases", [asdict(p) for p in phases], Group(*map(_phase_table, phases)))
    run.out.note("The face detector never ran again: only Crop and SpeechToText were recomputed.")
