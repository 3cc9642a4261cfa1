"""Renderers for ``mxl graph render``: a graph snapshot as a tree, Mermaid, Graphviz or JSON.

Every function here is pure: it takes a :class:`~metaxy_lake.graph.snapshot.GraphSnapshot`
and returns a string, a rich renderable or a JSON-able dict, and prints nothing. The
diagrams are written by :mod:`metaxy_lake.cli.diagram`. The diff renderers of
:mod:`metaxy_lake.cli.render_diff` (``render_diff`` and ``diff_*``) are re-exported here, so
this module is the one the commands use.

Versions are shown short (their first eight characters); code versions as declared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from rich.tree import Tree

from metaxy_lake.cli.diagram import (
    FORMATS,
    Edge,
    Node,
    dot_text,
    edges_of,
    mermaid_text,
    render_as,
    short,
)
from metaxy_lake.cli.render_diff import diff_dot, diff_json, diff_mermaid, diff_tree, render_diff
from metaxy_lake.errors import ConfigError, UnknownFeatureError
from metaxy_lake.graph.snapshot import FeatureSnapshot, GraphSnapshot

__all__ = [
    "FORMATS",
    "diff_dot",
    "diff_json",
    "diff_mermaid",
    "diff_tree",
    "focus",
    "graph_dot",
    "graph_json",
    "graph_mermaid",
    "graph_tree",
    "render_diff",
    "render_graph",
]


# --- focus -------------------------------------------------------------------------------


def focus(
    snapshot: GraphSnapshot, key: str, *, up: int | None = None, down: int | None = None
) -> GraphSnapshot:
    """The part of ``snapshot`` around one feature (``--feature KEY --up N --down N``).

    ``up`` counts dependency levels above ``key`` (1: its direct dependencies), ``down``
    levels below it (1: the features that depend on it directly). ``None`` (the option not
    given) means every level, so ``--feature KEY`` alone shows the feature's whole lineage,
    all it reads from and all that reads from it; ``--up 0`` or ``--down 0`` leaves out
    that side. Features kept keep their full definitions, dependencies on features left out
    included; the renderers draw edges between kept features only.

    Args:
        snapshot: The graph to cut.
        key: The feature in the middle.
        up: Upstream levels to keep, or ``None`` for all.
        down: Downstream levels to keep, or ``None`` for all.

    Returns:
        A snapshot with the same version holding only the kept features.

    Raises:
        UnknownFeatureError: ``key`` is not in the snapshot (the message lists the keys).
        ConfigError: ``up`` or ``down`` is negative.
    """
    if key not in snapshot.features:
        known = ", ".join(sorted(snapshot.features)) or "none"
        raise UnknownFeatureError(f"unknown feature {key} (known: {known})")
    for name, levels in (("up", up), ("down", down)):
        if levels is not None and levels < 0:
            raise ConfigError(f"--{name} must be 0 or more, got {levels}")
    children: dict[str, list[str]] = {k: [] for k in snapshot.features}
    for k, feature in snapshot.features.items():
        for dep in feature.dependencies:
            if dep in children:
                children[dep].append(k)

    def parents(k: str) -> list[str]:
        return [d for d in snapshot.features[k].dependencies if d in snapshot.features]

    keep = {key} | _reach(key, parents, up) | _reach(key, children.__getitem__, down)
    features = {k: snapshot.features[k] for k in snapshot.topological() if k in keep}
    return GraphSnapshot(snapshot.version, features)


def _reach(start: str, step: Callable[[str], Iterable[str]], levels: int | None) -> set[str]:
    """Keys reached from ``start`` in at most ``levels`` steps (any number for ``None``)."""
    reached: set[str] = set()
    frontier = [start]
    depth = 0
    while frontier and (levels is None or depth < levels):
        frontier = [n for k in frontier for n in step(k) if n not in reached and n != start]
        reached.update(frontier)
        depth += 1
    return reached


# --- graph renders -----------------------------------------------------------------------


def _nodes(snapshot: GraphSnapshot) -> list[Node]:
    return [
        Node(k, (k, f"v {short(snapshot.features[k].version)}")) for k in snapshot.topological()
    ]


def graph_mermaid(snapshot: GraphSnapshot) -> str:
    """The graph as a Mermaid ``flowchart TD``: features with short versions, dependencies.

    Args:
        snapshot: The graph (or a :func:`focus` of it).

    Returns:
        The diagram text.
    """
    return mermaid_text(_nodes(snapshot), [Edge(a, b) for a, b in edges_of(snapshot)])


def graph_dot(snapshot: GraphSnapshot) -> str:
    """The graph as a Graphviz ``digraph``: features with short versions, dependencies.

    Args:
        snapshot: The graph (or a :func:`focus` of it).

    Returns:
        The ``dot`` source.
    """
    return dot_text(_nodes(snapshot), [Edge(a, b) for a, b in edges_of(snapshot)])


def graph_json(snapshot: GraphSnapshot) -> dict[str, Any]:
    """The graph as a JSON-able dict.

    Shape: ``{"snapshot": VERSION, "features": [FeatureSnapshot.to_json()...],
    "edges": [{"from": UPSTREAM, "to": DOWNSTREAM}...]}``, features upstream first; only
    edges between listed features.

    Args:
        snapshot: The graph (or a :func:`focus` of it).

    Returns:
        The document.
    """
    return {
        "snapshot": snapshot.version or None,
        "features": [snapshot.features[k].to_json() for k in snapshot.topological()],
        "edges": [{"from": a, "to": b} for a, b in edges_of(snapshot)],
    }


def _field_line(key: str, code_version: str, version: str) -> Text:
    return Text.assemble((key, "bold"), "  code ", (code_version, "cyan"), "  v ", short(version))


def _feature_branch(tree: Tree, feature: FeatureSnapshot) -> None:
    branch = tree.add(
        Text.assemble((feature.key, "bold"), "  v ", (short(feature.version), "green"))
    )
    fields = branch.add("fields")
    for f in feature.fields:
        line = _field_line(f.key, f.code_version, f.version)
        if f.deps:
            line.append("  ← " + ", ".join(f.deps), style="dim")
        fields.add(line)
    if feature.deps:
        deps = branch.add("deps")
        for d in feature.deps:
            columns = ", ".join(a if a == b else f"{a} → {b}" for a, b in d.columns.items())
            shape = [f"{d.lineage} on {', '.join(d.on)}"] if d.lineage != "identity" else []
            shape += ["optional"] if d.optional else []
            shape += [f"where {' AND '.join(d.filters)}"] if d.filters else []
            deps.add(
                Text.assemble(
                    d.feature,
                    (f"  ({columns})" if columns else "", "dim"),
                    (f"  {'; '.join(shape)}" if shape else "", "cyan"),
                )
            )


def graph_tree(snapshot: GraphSnapshot) -> Tree:
    """The graph as a rich tree: features upstream first, their fields and dependencies.

    Each feature shows its short version; each field its code version, short version and
    upstream fields; each dependency its carried columns and its shape (lineage, optional,
    filters).

    Args:
        snapshot: The graph (or a :func:`focus` of it).

    Returns:
        The tree, to print on a console.
    """
    count = len(snapshot.features)
    title = f"graph {short(snapshot.version)}  ({count} feature{'' if count == 1 else 's'})"
    tree = Tree(Text(title, style="bold"))
    for key in snapshot.topological():
        _feature_branch(tree, snapshot.features[key])
    return tree


def render_graph(snapshot: GraphSnapshot, fmt: str) -> Tree | str | dict[str, Any]:
    """``snapshot`` in one of :data:`FORMATS` (what ``mxl graph render --format`` prints).

    Args:
        snapshot: The graph (or a :func:`focus` of it).
        fmt: ``tree``, ``mermaid``, ``dot`` or ``json``.

    Returns:
        A rich tree, diagram text, or a JSON-able dict.

    Raises:
        ConfigError: ``fmt`` is not one of the formats.
    """
    return render_as(
        fmt,
        snapshot,
        {"tree": graph_tree, "mermaid": graph_mermaid, "dot": graph_dot, "json": graph_json},
    )
