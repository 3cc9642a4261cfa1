"""Quoting for the SQL text the engine builds.

User text (code versions, column names) only ever enters SQL through these functions.
"""

from __future__ import annotations

from collections.abc import Iterable


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def idents(names: Iterable[str]) -> str:
    """Comma-separated quoted identifiers."""
    return ", ".join(ident(n) for n in names)


def string_list(values: Iterable[str]) -> str:
    """A SQL list of string literals, typed even when empty."""
    return "[" + ", ".join(lit(v) for v in values) + "]::VARCHAR[]"


def string_map(keys: Iterable[str], values: Iterable[str]) -> str:
    """A ``MAP(VARCHAR, VARCHAR)`` from key literals and value expressions."""
    return f"MAP({string_list(keys)}, [{', '.join(values)}]::VARCHAR[])"


def join_with_bar(parts: Iterable[str]) -> str:
    """``a || '|' || b ...``: NULL as soon as any part is NULL (never concat/concat_ws)."""
    return " || '|' || ".join(parts)
