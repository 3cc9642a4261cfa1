"""Reading a store: live rows (or all of them, or as of a moment) and commit history.

Both read through the store's fallback chain (``store.chain``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import narwhals as nw

from metaxy_lake.catalog import Commit, commits_from_history
from metaxy_lake.engine.relations import latest, narwhals_filter
from metaxy_lake.engine.sql import idents
from metaxy_lake.errors import TimeTravelError, UndeclaredColumnError
from metaxy_lake.formats import AsOf
from metaxy_lake.graph import FeatureRef
from metaxy_lake.schema import STORE
from metaxy_lake.store.tables.chain import (
    chain_id_types,
    chain_rows,
    links,
    open_chain,
    open_in_chain,
)
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.types import AsOfLike, Filters, filter_list

# Delta and Lance versions and Iceberg snapshot ids are signed 64-bit, never negative
_VERSIONS = range(2**63)


def parse_as_of(as_of: AsOfLike | None) -> AsOf | None:
    """An ``as_of`` argument as a table version or an aware UTC datetime.

    Raises:
        TimeTravelError: A version outside 0 to 2**63 - 1; a datetime (or ISO text)
            without a time zone, or outside the years 1 to 9999 once in UTC; text that is
            no ISO 8601 time; anything else.
    """
    if as_of is None:
        return None
    if isinstance(as_of, int) and not isinstance(as_of, bool):
        if as_of not in _VERSIONS:
            raise TimeTravelError(
                f"as_of {as_of} is no table version: a version is an integer from 0 to 2**63 - 1"
            )
        return as_of
    if not isinstance(as_of, str | dt.datetime):
        raise TimeTravelError(
            f"as_of {as_of!r} is neither a table version (an int) nor a time (an aware "
            "datetime or ISO 8601 text)"
        )
    try:
        when = dt.datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    except ValueError as exc:
        raise TimeTravelError(f"as_of {as_of!r} is not an ISO 8601 time") from exc
    if when.tzinfo is None:
        raise TimeTravelError(f"as_of {as_of!r} has no time zone; give one (e.g. +00:00)")
    try:
        return when.astimezone(dt.UTC)
    except OverflowError as exc:
        raise TimeTravelError(
            f"as_of {as_of!r} is out of range: in UTC it must fall in the years 1 to 9999"
        ) from exc


@dataclass(frozen=True)
class ReadRequest:
    """What a read asks for, beside the feature (``LakeStore.read``'s keyword arguments).

    Attributes:
        filters: Expression(s) on the rows served, ANDed.
        columns: The columns returned (None: all).
        include_history: Every row ever written, tombstones included.
        include_deleted: Also samples whose latest row is a tombstone.
        as_of: The time or table version read as of (None: now).
        with_store: Add ``metaxy_store``, the store each row came from.
    """

    filters: Filters = None
    columns: Sequence[str] | None = None
    include_history: bool = False
    include_deleted: bool = False
    as_of: AsOfLike | None = None
    with_store: bool = False


def read(
    ctx: StoreContext, feature: FeatureRef, request: ReadRequest
) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
    """A feature's live rows as a lazy narwhals frame (see ``LakeStore.read``)."""
    definition, graph = ctx.resolve(feature)
    tables = open_chain(ctx, definition, ctx.settings(graph), parse_as_of(request.as_of))
    con = ctx.engine.connection  # reads of every store of the session can meet in one query
    rows = chain_rows(
        con, tables, definition, chain_id_types(tables, definition), request.with_store
    )
    if not request.include_history:
        rows = latest(rows, definition.id_columns, include_deleted=request.include_deleted)
    rows = narwhals_filter(rows, filter_list(request.filters))
    columns = request.columns
    if columns is not None:
        unknown = [c for c in columns if c not in rows.columns]
        if unknown:
            raise UndeclaredColumnError(f"feature {definition.key} has no column(s) {unknown}")
        shown = [*columns, STORE] if request.with_store and STORE not in columns else list(columns)
        rows = rows.project(idents(shown))
    return nw.from_native(rows)


def history(ctx: StoreContext, feature: FeatureRef, limit: int | None = None) -> list[Commit]:
    """The commits of a feature's table in each store of the chain (see ``LakeStore.history``).

    Per store in the chain's order, newest first; a pinned store's up to its pin.
    """
    definition, graph = ctx.resolve(feature)
    settings = ctx.settings(graph)
    out: list[Commit] = []
    for store, pin in links(ctx):
        table = open_in_chain(ctx, store, definition, settings, None)
        if table is None:
            continue
        commits = commits_from_history(table.history(None if pin else limit))
        if pin is not None:
            commits = [c for c in commits if c.timestamp <= pin][:limit]
        out += [dataclasses.replace(c, store=store.name) for c in commits]
    return out
