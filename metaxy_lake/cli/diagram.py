"""Diagram writers shared by ``mxl graph render`` and ``mxl graph diff``.

Plain :class:`Node` and :class:`Edge` lists become a Mermaid ``flowchart TD``
(:func:`mermaid_text`) or a Graphviz ``digraph`` (:func:`dot_text`), with labels escaped
for each language and change statuses (added, removed, changed, downstream) styled. Pure:
nothing is printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from rich.tree import Tree

from metaxy_lake.errors import ConfigError
from metaxy_lake.graph.snapshot import GraphSnapshot

Format = Literal["tree", "mermaid", "dot", "json"]
FORMATS: tuple[Format, ...] = ("tree", "mermaid", "dot", "json")
"""The render formats of ``mxl graph render`` and ``mxl graph diff``."""

SHORT = 8
"""How many characters of a version the renderers show."""

#: Mermaid ``classDef`` and Graphviz attributes of each change status.
STYLES: Mapping[str, Mapping[str, str]] = {
    "added": {"fill": "#c8e6c9", "stroke": "#2e7d32", "style": "rounded,filled,bold"},
    "removed": {"fill": "#ffcdd2", "stroke": "#c62828", "style": "rounded,filled,dashed"},
    "changed": {"fill": "#ffe0b2", "stroke": "#ef6c00", "style": "rounded,filled,bold"},
    "downstream": {"fill": "#fff9c4", "stroke": "#f9a825", "style": "rounded,filled"},
}
_EDGE_COLOURS = {"added": "#2e7d32", "removed": "#c62828"}


def short(version: str | None) -> str:
    """A version cut to :data:`SHORT` characters (``-`` for none).

    Args:
        version: A feature, field or snapshot version.

    Returns:
        The short form shown by every renderer.
    """
    return version[:SHORT] if version else "-"


@dataclass(frozen=True)
class Node:
    """One box of a diagram: a feature, its label lines, and its change status if any."""

    key: str
    lines: tuple[str, ...]
    status: str | None = None


@dataclass(frozen=True)
class Edge:
    """One dependency arrow, upstream → downstream; ``status`` added/removed in a diff."""

    upstream: str
    downstream: str
    status: str | None = None


def node_ids(keys: Iterable[str]) -> dict[str, str]:
    """Safe, distinct Mermaid identifiers for feature keys (``a/b`` → ``f_a__b``).

    Valid feature keys map one to one (their parts never contain ``__``); anything else a
    loaded snapshot might hold is reduced to ``[A-Za-z0-9_]`` and numbered when it collides.

    Args:
        keys: Feature keys.

    Returns:
        Key → identifier.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in keys:
        base = "f_" + re.sub(r"[^A-Za-z0-9_]", "_", key.replace("/", "__"))
        ident, n = base, 1
        while ident in used:
            n += 1
            ident = f"{base}_{n}"
        used.add(ident)
        out[key] = ident
    return out


def mermaid_label(text: str) -> str:
    """``text`` made safe inside a quoted Mermaid label (quotes and markup as entities).

    Args:
        text: One line of a label.

    Returns:
        The escaped line.
    """
    return (
        text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def dot_string(text: str) -> str:
    """``text`` as a quoted Graphviz string (backslashes and quotes escaped).

    Args:
        text: An id or one line of a label.

    Returns:
        The text in double quotes.
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mermaid_text(nodes: Sequence[Node], edges: Sequence[Edge]) -> str:
    """A Mermaid ``flowchart TD``: one node per ``Node``, one arrow per ``Edge``.

    Nodes with a status get the ``classDef`` of that status. Edges only in the new graph
    are thick (``==>``), edges only in the old one dotted (``-.->``).

    Args:
        nodes: The features.
        edges: The dependencies, upstream → downstream.

    Returns:
        The diagram text.
    """
    ids = node_ids(n.key for n in nodes)
    out = ["flowchart TD"]
    for n in nodes:
        label = "<br/>".join(mermaid_label(line) for line in n.lines)
        out.append(f'    {ids[n.key]}["{label}"]')
    arrows = {"added": "==>", "removed": "-.->"}
    for e in edges:
        out.append(f"    {ids[e.upstream]} {arrows.get(e.status or '', '-->')} {ids[e.downstream]}")
    statuses = [s for s in STYLES if any(n.status == s for n in nodes)]
    for s in statuses:
        style = STYLES[s]
        extra = ",stroke-width:2px" if "bold" in style["style"] else ""
        extra += ",stroke-dasharray:5" if "dashed" in style["style"] else ""
        out.append(f"    classDef {s} fill:{style['fill']},stroke:{style['stroke']}{extra}")
    for s in statuses:
        out.append(f"    class {','.join(ids[n.key] for n in nodes if n.status == s)} {s}")
    return "\n".join(out) + "\n"


def dot_text(nodes: Sequence[Node], edges: Sequence[Edge], name: str = "metaxy_lake") -> str:
    """A Graphviz ``digraph``: quoted feature keys as ids, one edge per dependency.

    A node with a status gets its colours, style and ``class`` (kept in SVG output).

    Args:
        nodes: The features.
        edges: The dependencies, upstream → downstream.
        name: The graph's name.

    Returns:
        The ``dot`` source.
    """
    out = [
        f"digraph {dot_string(name)} {{",
        "    rankdir=TB;",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
    ]
    for n in nodes:
        label = "\\n".join(dot_string(line)[1:-1] for line in n.lines)
        attrs = [f'label="{label}"']
        if n.status is not None:
            style = STYLES[n.status]
            attrs += [
                f"class={dot_string(n.status)}",
                f"style={dot_string(style['style'])}",
                f"color={dot_string(style['stroke'])}",
                f"fillcolor={dot_string(style['fill'])}",
            ]
        out.append(f"    {dot_string(n.key)} [{', '.join(attrs)}];")
    for e in edges:
        extra = ""
        if e.status is not None:
            colour = _EDGE_COLOURS[e.status]
            line = "dashed" if e.status == "removed" else "bold"
            extra = f' [class="{e.status}", style="{line}", color="{colour}"]'
        out.append(f"    {dot_string(e.upstream)} -> {dot_string(e.downstream)}{extra};")
    out.append("}")
    return "\n".join(out) + "\n"


def edges_of(snapshot: GraphSnapshot) -> list[tuple[str, str]]:
    """Every dependency between features of ``snapshot``, as (upstream, downstream) pairs.

    Args:
        snapshot: The graph.

    Returns:
        The pairs, downstream features in topological order.
    """
    return [
        (dep, key)
        for key in snapshot.topological()
        for dep in snapshot.features[key].dependencies
        if dep in snapshot.features
    ]


T = TypeVar("T")
Rendering = Tree | str | dict[str, Any]


def render_as(fmt: str, value: T, renderers: Mapping[str, Callable[[T], Rendering]]) -> Rendering:
    """``value`` rendered by the renderer of ``fmt``.

    Raises:
        ConfigError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt not in renderers:
        raise ConfigError(f"unknown render format {fmt!r} (expected one of {', '.join(FORMATS)})")
    return renderers[fmt](value)
