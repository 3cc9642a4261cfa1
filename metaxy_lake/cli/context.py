"""What every command works with: the global options, the configuration, the store, the graph.

Each is made on first use, so ``mxl init`` needs no configuration and ``mxl list`` opens
no store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import typer
from typer._click.exceptions import UsageError

from metaxy_lake import config
from metaxy_lake.cli.output import Output, make_output
from metaxy_lake.graph import FeatureDefinition, FeatureGraph, set_default_hash_length
from metaxy_lake.schema import DEFAULT_PROJECT
from metaxy_lake.store import LakeStore, open_store


@dataclass(frozen=True)
class Globals:
    """The options every command takes (see ``mxl --help``)."""

    store: str | None = None
    root: str | None = None
    table_format: str | None = None
    config: Path | None = None
    output: str = "text"
    debug: bool = False


class Cli:
    """One command's run: its options, output, and (made when first asked for) store and graph."""

    def __init__(self, options: Globals) -> None:
        self.options = options
        self.out: Output = make_output(options.output)

    @cached_property
    def config(self) -> config.ProjectConfig | None:
        """The project configuration (None when no file is found)."""
        return config.load_config(self.options.config)

    @cached_property
    def graph(self) -> FeatureGraph:
        """The feature graph, after importing the configured features modules.

        The default graph takes its hash length from the configuration in effect (the
        ``--config`` file too, not only the one found from the working directory).
        """
        chosen = self.config
        if chosen is not None:
            set_default_hash_length(lambda: chosen.hash_length)
            config.import_features(chosen)
        return FeatureGraph.current()

    @cached_property
    def store(self) -> LakeStore:
        """The store named by ``--store``/``--root``, else the configuration's default."""
        if self.options.root is not None:
            if self.options.store is not None:
                raise UsageError("give --store NAME or --root URI, not both")
            project = self.config.project if self.config is not None else DEFAULT_PROJECT
            return LakeStore(
                self.options.root, format=self.options.table_format or "delta", project=project
            )
        if self.options.table_format is not None:
            raise UsageError("--table-format applies to an ad-hoc --root store only")
        return open_store(self.options.store, config=self.config)

    def show(self, key: str, data: Any, drawn: Any) -> None:
        """Hand a rendering to the output (JSON text for ``--format json`` on a terminal)."""
        text = json.dumps(drawn, indent=2) if isinstance(drawn, dict) else drawn
        self.out.rendered(key, data, text)

    def feature(self, key: str) -> FeatureDefinition:
        """A feature of the graph by its key (``example/crop``).

        Raises:
            UnknownFeatureError: No feature has that key (the message lists the known ones).
        """
        return self.graph.get(key)

    def features(self, keys: list[str] | None = None) -> list[FeatureDefinition]:
        """The named features, or every feature of the graph upstream first."""
        if keys:
            return [self.feature(k) for k in keys]
        return [self.graph.get(k) for k in self.graph.keys]


@dataclass
class Invocation:
    """One ``mxl`` call: ``main`` makes it, the root callback sets its run."""

    run: Cli | None = None


def cli(ctx: typer.Context) -> Cli:
    """The run of the command ``ctx`` belongs to."""
    invocation = ctx.find_root().obj
    assert isinstance(invocation, Invocation) and invocation.run, "set by the root callback"
    return invocation.run
