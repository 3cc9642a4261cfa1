"""Snapshots of a feature graph: the recorded definitions, without the code that declared them.

A ``GraphSnapshot`` is what the catalog keeps of one state of the graph: every feature
with its version, its fields (code version, version, upstream fields), its dependencies
and columns (docs/design.md, Graph snapshots). Diff, render and lineage work from
snapshots alone; the code's current graph becomes one with ``GraphSnapshot.of(graph)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from metaxy_lake.graph.definition import FeatureDefinition
from metaxy_lake.graph.feature_graph import FeatureGraph
from metaxy_lake.graph.keys import fq_field_key


@dataclass(frozen=True)
class FieldSnapshot:
    """One field as recorded: key, code version, version, upstream fields (fq keys)."""

    key: str
    code_version: str
    version: str
    deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class DepSnapshot:
    """One dependency as recorded: the upstream key, its carried columns and its shape."""

    feature: str
    columns: Mapping[str, str] = field(default_factory=dict)
    """Stored upstream column → its name downstream (join keys and carried columns)."""
    lineage: str = "identity"
    """``identity``, ``expansion`` or ``aggregation``."""
    on: tuple[str, ...] = ()
    optional: bool = False
    filters: tuple[str, ...] = ()
    """The filters as written (SQL-like text)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (``from_json`` reads it back, and reads older ones too)."""
        return {
            "feature": self.feature,
            "columns": dict(self.columns),
            "lineage": self.lineage,
            "on": list(self.on),
            "optional": self.optional,
            "filters": list(self.filters),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DepSnapshot:
        """The dependency ``to_json`` described.

        A snapshot recorded before the shapes existed reads as identity.
        """
        return cls(
            data["feature"],
            dict(data["columns"]),
            data.get("lineage", "identity"),
            tuple(data.get("on", ())),
            bool(data.get("optional", False)),
            tuple(data.get("filters", ())),
        )


@dataclass(frozen=True)
class FeatureSnapshot:
    """One feature as recorded in a snapshot."""

    key: str
    version: str
    fields: tuple[FieldSnapshot, ...]
    deps: tuple[DepSnapshot, ...] = ()
    id_columns: tuple[str, ...] = ("sample_uid",)
    user_columns: Mapping[str, str] = field(default_factory=dict)
    """User column → its Arrow type, as text."""

    @property
    def field_versions(self) -> dict[str, str]:
        """Field key → field version."""
        return {f.key: f.version for f in self.fields}

    @property
    def code_versions(self) -> dict[str, str]:
        """Field key → code version."""
        return {f.key: f.code_version for f in self.fields}

    @property
    def dependencies(self) -> list[str]:
        """Upstream feature keys."""
        return [d.feature for d in self.deps]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict from which ``from_json`` rebuilds the snapshot."""
        return {
            "key": self.key,
            "version": self.version,
            "id_columns": list(self.id_columns),
            "user_columns": dict(self.user_columns),
            "fields": [
                {
                    "key": f.key,
                    "code_version": f.code_version,
                    "version": f.version,
                    "deps": list(f.deps),
                }
                for f in self.fields
            ],
            "deps": [d.to_json() for d in self.deps],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSnapshot:
        """The snapshot ``to_json`` described."""
        return cls(
            key=data["key"],
            version=data["version"],
            fields=tuple(
                FieldSnapshot(f["key"], f["code_version"], f["version"], tuple(f["deps"]))
                for f in data["fields"]
            ),
            deps=tuple(DepSnapshot.from_json(d) for d in data["deps"]),
            id_columns=tuple(data["id_columns"]),
            user_columns=dict(data["user_columns"]),
        )

    @classmethod
    def of(cls, graph: FeatureGraph, definition: FeatureDefinition) -> FeatureSnapshot:
        """The snapshot of one feature of ``graph``."""
        versions = graph.field_versions(definition.key)
        return cls(
            key=str(definition.key),
            version=graph.feature_version(definition.key),
            fields=tuple(
                FieldSnapshot(
                    str(f.key),
                    f.code_version,
                    versions[str(f.key)],
                    tuple(fq_field_key(k, fk) for k, fk in f.deps),
                )
                for f in sorted(definition.fields, key=lambda f: str(f.key))
            ),
            deps=tuple(
                DepSnapshot(
                    str(d.key),
                    dict(d.columns),
                    d.lineage,
                    spec.lineage.on,
                    d.optional,
                    tuple(spec.filters),
                )
                for d, spec in zip(definition.deps, definition.spec.feature_deps, strict=True)
            ),
            id_columns=definition.id_columns,
            user_columns={n: str(t) for n, t in definition.user_columns.items()},
        )


@dataclass(frozen=True)
class GraphSnapshot:
    """A recorded state of the graph: its snapshot version and every feature in it."""

    version: str
    features: Mapping[str, FeatureSnapshot]

    @classmethod
    def of(cls, graph: FeatureGraph) -> GraphSnapshot:
        """The snapshot of ``graph`` as the code declares it now."""
        features = {str(k): FeatureSnapshot.of(graph, graph.get(k)) for k in graph.keys}
        return cls(graph.snapshot_version(), features)

    @classmethod
    def empty(cls) -> GraphSnapshot:
        """The graph with no feature (what precedes the first snapshot)."""
        return cls("", {})

    def downstream(self, key: str) -> list[str]:
        """Keys of the features that depend on ``key``, directly or not, upstream first."""
        reached = {key}
        for name in self.topological():
            if any(d in reached for d in self.features[name].dependencies):
                reached.add(name)
        return [k for k in self.topological() if k in reached and k != key]

    def topological(self) -> list[str]:
        """Feature keys, upstream first, then by key."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen or name not in self.features:
                return
            seen.add(name)
            for dep in self.features[name].dependencies:
                visit(dep)
            order.append(name)

        for name in sorted(self.features):
            visit(name)
        return order
