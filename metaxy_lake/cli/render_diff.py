"""Renderers for ``mxl graph diff``: a graph diff as text, Mermaid, Graphviz or JSON.

The diagrams draw one merged graph, every feature of the old and the new snapshot, with the
added, removed, changed and downstream ones marked (Mermaid classes, Graphviz colours and
classes) and their old → new short versions on them; dependencies only in the new graph
are drawn bold, those only in the old one dashed. The text render is a rich tree of the
changed features only; JSON is ``GraphDiff.to_json()`` (changes only). Pure: nothing is
printed.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from rich.tree import Tree

from metaxy_lake.cli.diagram import (
    Edge,
    Node,
    dot_text,
    edges_of,
    mermaid_text,
    render_as,
    short,
)
from metaxy_lake.graph.diff import FeatureChange, FieldChange, GraphDiff

#: The rich style of each change status in the text render.
STATUS_STYLES = {"added": "green", "removed": "red", "changed": "yellow", "downstream": "cyan"}


def _versions(change: FeatureChange) -> str:
    if change.status == "added":
        return f"v {short(change.new_version)}"
    if change.status == "removed":
        return f"v {short(change.old_version)}"
    return f"v {short(change.old_version)} → {short(change.new_version)}"


def merged(d: GraphDiff) -> tuple[list[Node], list[Edge]]:
    """The merged graph of a diff: nodes of both snapshots, edges of both.

    Nodes come in the new graph's topological order, then the removed features. A node of
    a changed feature has its status and ``v OLD → NEW`` (``v NEW (added)``, ``v OLD
    (removed)``); an unchanged one its version. Edges only in the new graph have status
    ``added``, edges only in the old one ``removed``.

    Args:
        d: The diff.

    Returns:
        The nodes and the edges.
    """
    changes = {c.key: c for c in d.changes}
    order = d.new.topological() + [k for k in d.old.topological() if k not in d.new.features]
    nodes = []
    for key in order:
        change = changes.get(key)
        if change is None:
            nodes.append(Node(key, (key, f"v {short(d.new.features[key].version)}")))
        else:
            versions = _versions(change)
            if change.status in ("added", "removed"):
                versions += f" ({change.status})"
            nodes.append(Node(key, (key, versions), change.status))
    old_edges, new_edges = edges_of(d.old), edges_of(d.new)
    before, after = set(old_edges), set(new_edges)
    edges = [Edge(a, b, None if (a, b) in before else "added") for a, b in new_edges]
    edges += [Edge(a, b, "removed") for a, b in old_edges if (a, b) not in after]
    return nodes, edges


def diff_mermaid(d: GraphDiff) -> str:
    """The diff as one merged Mermaid ``flowchart TD``, changed nodes in their classes.

    Args:
        d: The diff.

    Returns:
        The diagram text.
    """
    return mermaid_text(*merged(d))


def diff_dot(d: GraphDiff) -> str:
    """The diff as one merged Graphviz ``digraph``, changed nodes coloured and classed.

    Args:
        d: The diff.

    Returns:
        The ``dot`` source.
    """
    nodes, edges = merged(d)
    return dot_text(nodes, edges, name="metaxy_lake diff")


def diff_json(d: GraphDiff) -> dict[str, Any]:
    """The diff as a JSON-able dict: ``GraphDiff.to_json()``, only the changes listed.

    Args:
        d: The diff.

    Returns:
        The document.
    """
    return d.to_json()


def _field_line(f: FieldChange) -> Text:
    style = STATUS_STYLES[f.status]
    if f.status == "changed":
        code = (
            f.new_code_version
            if f.old_code_version == f.new_code_version
            else f"{f.old_code_version} → {f.new_code_version}"
        )
        return Text.assemble(
            (f.key, "bold"),
            f"  v {short(f.old_version)} → {short(f.new_version)}  code ",
            (code or "-", style),
        )
    sign, version, code = (
        ("+", f.new_version, f.new_code_version)
        if f.status == "added"
        else ("-", f.old_version, f.old_code_version)
    )
    return Text.assemble(
        (f"{sign} {f.key}", f"bold {style}"),
        f"  v {short(version)}  code {code}  ",
        (f"({f.status})", style),
    )


def _dependency_lines(d: GraphDiff, change: FeatureChange) -> list[Text]:
    old, new = d.old.features.get(change.key), d.new.features.get(change.key)
    if old is None or new is None:
        return []
    before, after = old.dependencies, new.dependencies
    lines = [Text(f"+ depends on {k}", "green") for k in after if k not in before]
    return lines + [Text(f"- depends on {k}", "red") for k in before if k not in after]


def diff_tree(d: GraphDiff) -> Tree:
    """The diff as a rich tree listing only the changed features.

    Each feature shows its status and old → new version; under it its changed fields
    (old → new field version and code version, or ``+``/``-`` for an added or removed
    field), dependencies gained or lost, and for a downstream feature ``because of`` the
    upstream changes that moved its version.

    Args:
        d: The diff.

    Returns:
        The tree, to print on a console.
    """
    title = f"graph diff {short(d.old.version) if d.old.version else '(empty)'} → "
    title += short(d.new.version)
    if d.is_empty:
        return Tree(Text(title + ": no changes", "bold"))
    counts = [f"{len(d.by_status(s))} {s}" for s in ("added", "removed", "changed", "downstream")]
    tree = Tree(Text(f"{title}  ({', '.join(c for c in counts if not c.startswith('0 '))})"))
    for change in d.changes:
        style = STATUS_STYLES[change.status]
        branch = tree.add(
            Text.assemble(
                (f"{change.status:<10}", style),
                " ",
                (change.key, "bold"),
                "  " + _versions(change),
            )
        )
        for f in change.fields:
            branch.add(_field_line(f))
        for line in _dependency_lines(d, change):
            branch.add(line)
        if change.because_of:
            branch.add(Text("because of " + ", ".join(change.because_of), "dim"))
    return tree


def render_diff(d: GraphDiff, fmt: str) -> Tree | str | dict[str, Any]:
    """``d`` in one of the render formats (what ``mxl graph diff --format`` prints).

    Args:
        d: The diff.
        fmt: ``tree`` (text), ``mermaid``, ``dot`` or ``json``.

    Returns:
        A rich tree, diagram text, or a JSON-able dict.

    Raises:
        ConfigError: ``fmt`` is not one of the formats.
    """
    return render_as(
        fmt, d, {"tree": diff_tree, "mermaid": diff_mermaid, "dot": diff_dot, "json": diff_json}
    )
