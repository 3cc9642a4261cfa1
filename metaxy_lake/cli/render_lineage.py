"""Renderers of ``mxl lineage``: the rows reached, as a tree, Mermaid or JSON.

A row's children are the rows it was computed from: rows of its upstream features one
level deeper whose data version it recorded in ``metaxy_upstream`` (and whose shared id
values agree). Pure: nothing is printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from rich.tree import Tree

from metaxy_lake.cli.diagram import Edge, Node, mermaid_text, render_as, short
from metaxy_lake.schema import CREATED_AT, DATA_VERSION, STORE, UPSTREAM, WRITE_ID

Row = Mapping[str, Any]


def _pairs(value: Any) -> dict[str, Any]:
    """A map as a dict, whether it came as pairs (Arrow) or as a dict (JSON)."""
    return dict(value or {}) if isinstance(value, dict) else dict(value or [])


def ids_text(ids: Mapping[str, Any]) -> str:
    """Sample ids as ``col=value`` text."""
    return ", ".join(f"{k}={v}" for k, v in ids.items() if v is not None)


def label(row: Row) -> list[str]:
    """The lines that describe one row reached."""
    when = row[CREATED_AT]
    when = when.isoformat(timespec="seconds") if hasattr(when, "isoformat") else str(when)
    code = ", ".join(f"{k}={v}" for k, v in sorted(_pairs(row["code_versions"]).items()))
    lines = [
        f"{row['feature']} ({ids_text(row['ids'])})",
        f"data {short(row[DATA_VERSION])} · written {when} · write {short(row[WRITE_ID])}",
        f"code {code or 'unknown (snapshot not recorded)'}",
    ]
    if row.get(STORE):
        lines[1] += f" · store {row[STORE]}"
    return lines


def _edges(rows: Sequence[Row]) -> list[tuple[int, int]]:
    """(child index, parent index) pairs: a parent is a row the child was computed from."""
    out = []
    for c, child in enumerate(rows):
        used = _pairs(child[UPSTREAM])
        for p, parent in enumerate(rows):
            shared = set(child["ids"]) & set(parent["ids"])
            if (
                parent["depth"] == child["depth"] + 1
                and parent["parent_feature"] == child["feature"]
                and used.get(parent["feature"]) == parent[DATA_VERSION]
                and all(child["ids"][k] == parent["ids"][k] for k in shared)
            ):
                out.append((c, p))
    return out


def lineage_tree(rows: Sequence[Row]) -> Tree:
    """A rich tree per sample asked for, its inputs as branches."""
    if not rows:
        return Tree("no live row of these samples")
    edges = _edges(rows)
    top = Tree("lineage", hide_root=True)

    def grow(tree: Tree, index: int) -> None:
        lines = label(rows[index])
        branch = tree.add(Text(lines[0], style="bold") + Text("\n" + "\n".join(lines[1:])))
        for child, parent in edges:
            if child == index:
                grow(branch, parent)

    for index, row in enumerate(rows):
        if row["depth"] == 0:
            grow(top, index)
    return top


def lineage_mermaid(rows: Sequence[Row]) -> str:
    """A Mermaid flowchart: inputs above, each row below what it was computed from."""
    keys = [f"{r['feature']}@{i}" for i, r in enumerate(rows)]
    nodes = [Node(k, tuple(label(r))) for k, r in zip(keys, rows, strict=True)]
    edges = [Edge(keys[p], keys[c]) for c, p in _edges(rows)]
    return mermaid_text(nodes, edges)


def render_lineage(
    rows: Sequence[Row], plain: Sequence[Row], fmt: str
) -> Tree | str | dict[str, Any]:
    """Rows as ``fmt`` (``tree``, ``mermaid`` or ``json``; JSON takes the plain rows)."""
    return render_as(
        fmt,
        rows,
        {
            "tree": lineage_tree,
            "mermaid": lineage_mermaid,
            "json": lambda _: {"rows": list(plain)},
        },
    )
