"""``--id COLUMN=VALUE``: how commands name one sample."""

from __future__ import annotations

from typing import Annotated, Any

import typer

IdOption = Annotated[
    list[str] | None,
    typer.Option("--id", help="The sample: COLUMN=VALUE (repeat for several id columns)."),
]


def parse_ids(pairs: list[str] | None) -> dict[str, str] | None:
    """``--id`` options as one sample's ids (None when none was given).

    Raises:
        typer.BadParameter: An option is not ``COLUMN=VALUE``, or names a column twice.
    """
    if not pairs:
        return None
    ids: dict[str, str] = {}
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column:
            raise typer.BadParameter(f"--id {pair!r} is not COLUMN=VALUE")
        if column in ids:
            raise typer.BadParameter(f"--id names {column!r} twice")
        ids[column] = value
    return ids


def flat(row: dict[str, Any]) -> dict[str, Any]:
    """A result row with its ``ids`` struct spread into one column per id column."""
    ids = row.pop("ids", None) or {}
    return {**ids, **row}
