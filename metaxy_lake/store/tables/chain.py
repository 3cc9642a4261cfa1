"""Fallback chains: a feature's rows as a per-sample overlay of several stores.

Through a chain ``[primary, fallback, ...]`` the rows of a sample are those of the first
store that holds any row of it (tombstones included); the live-row rule then applies
within them. Every store of the chain is scanned in the primary's engine session, and the
overlay is one DuckDB relation: each store's rows, less the samples an earlier store
holds (an anti-join on the id columns), unioned. A store without fallbacks reads its
table as it is, with nothing added.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import duckdb
import pyarrow as pa

from metaxy_lake.arrowtypes import equivalent
from metaxy_lake.engine.recipe import HashSettings
from metaxy_lake.engine.relations import Relation, scan
from metaxy_lake.engine.sql import ident, idents, lit
from metaxy_lake.errors import (
    HashSettingsMismatchError,
    StoreConfigError,
    TableContractError,
    TimeTravelError,
)
from metaxy_lake.formats import AsOf, LakeTable
from metaxy_lake.graph import FeatureDefinition
from metaxy_lake.schema import CREATED_AT, STORE
from metaxy_lake.store.tables.context import Link, StoreContext
from metaxy_lake.store.tables.contract import stored_id_types


@dataclass(frozen=True)
class ChainTable:
    """One store's table of a feature, as the chain reads it (None: no rows there)."""

    store: StoreContext
    table: LakeTable | None


def links(ctx: StoreContext) -> list[tuple[StoreContext, dt.datetime | None]]:
    """The stores of ``ctx``'s chain in order, each with its pin (the primary has none)."""
    return [(ctx, None), *((link.ctx, link.pin) for link in ctx.fallback)]


def _earliest(pin: dt.datetime | None, as_of: AsOf | None) -> AsOf | None:
    if pin is None:
        return as_of
    if as_of is None or isinstance(as_of, int):
        return pin
    return min(pin, as_of)


def open_in_chain(
    ctx: StoreContext,
    store: StoreContext,
    definition: FeatureDefinition,
    settings: HashSettings,
    when: AsOf | None,
) -> LakeTable | None:
    """A table of ``ctx``'s chain as of ``when``; None when it did not exist yet then.

    Raises:
        HashSettingsMismatchError: A fallback's table hashes otherwise than ``ctx``
            (both stores named).
    """
    try:
        return store.open(definition, settings, when)
    except HashSettingsMismatchError as exc:
        if store is ctx:
            raise
        raise HashSettingsMismatchError(
            f"the stores of one chain must hash alike: fallback {store.label} of {ctx.label}: {exc}"
        ) from exc
    except TimeTravelError as exc:
        if exc.first_commit is not None:  # it did not exist yet then (``StoreContext.open``)
            return None
        raise


def open_chain(
    ctx: StoreContext,
    definition: FeatureDefinition,
    settings: HashSettings,
    as_of: AsOf | None = None,
) -> list[ChainTable]:
    """A feature's table in every store of ``ctx``'s chain, each as of its pin or ``as_of``.

    A fallback pinned (or read ``as_of``) before its table existed contributes no rows.

    Raises:
        TimeTravelError: ``as_of`` is a table version and the store has fallbacks (a
            version names a version of one table: give a time), a time a store alone
            did not have its table at, or a time beyond a table's kept history.
        HashSettingsMismatchError: A table of the chain hashes otherwise (the stores are
            named).
    """
    if isinstance(as_of, int) and ctx.fallback:
        raise TimeTravelError(
            f"as_of={as_of} is a table version, which names a version of one table; "
            f"{ctx.label} reads through fallback stores: give a time instead"
        )
    # through a chain, a primary table created after as_of holds no rows then: the
    # fallbacks may (a store alone still says its table did not exist yet)
    if ctx.fallback:
        primary = open_in_chain(ctx, ctx, definition, settings, as_of)
    else:
        primary = ctx.open(definition, settings, as_of)
    out = [ChainTable(ctx, primary)]
    for link in ctx.fallback:
        when = _earliest(link.pin, as_of)
        out.append(ChainTable(link.ctx, open_in_chain(ctx, link.ctx, definition, settings, when)))
    return out


def first_table(tables: Sequence[ChainTable]) -> LakeTable | None:
    """The first table of the chain that exists (None: no store of it has one yet)."""
    return next((t.table for t in tables if t.table is not None), None)


def held(tables: Sequence[ChainTable]) -> bool:
    """Whether any store of the chain has a table of the feature yet."""
    return first_table(tables) is not None


def chain_id_types(
    tables: Sequence[ChainTable], definition: FeatureDefinition
) -> dict[str, pa.DataType]:
    """Id column types: those of the first table of the chain, else the annotations."""
    return stored_id_types(first_table(tables), definition)


def _common_schema(tables: Sequence[ChainTable], definition: FeatureDefinition) -> pa.Schema:
    """The columns of every table of the chain: the first one's, then any others add.

    Raises:
        TableContractError: Two stores hold a column with different types (both named).
    """
    fields: dict[str, tuple[pa.Field, str]] = {}
    for part in tables:
        assert part.table is not None
        for field in part.table.schema:
            seen = fields.get(field.name)
            if seen is None:
                fields[field.name] = (field, part.store.label)
            elif not equivalent(seen[0].type, field.type):
                raise TableContractError(
                    f"feature {definition.key}: column {field.name!r} is {seen[0].type} in "
                    f"{seen[1]} but {field.type} in {part.store.label}; the stores of one "
                    "chain must agree on column types"
                )
    return pa.schema([f for f, _ in fields.values()])


def chain_rows(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[ChainTable],
    definition: FeatureDefinition,
    id_types: Mapping[str, pa.DataType],
    with_store: bool = False,
    overlay: bool = True,
    before: dt.datetime | None = None,
) -> Relation:
    """Every row of the store serving each sample: the chain's per-sample overlay.

    With ``with_store``, a ``metaxy_store`` column names the store each row came from;
    without ``overlay``, every store's rows of every sample (what lineage searches); with
    ``before``, only rows written at or before it, in each store before the overlay (the
    chain as it served then).
    """
    primary = tables[0]
    if len(tables) == 1 and not with_store and before is None:
        return primary.store.rows(con, primary.table, definition, id_types)
    present = [t for t in tables if t.table is not None]
    if not present:
        rows = primary.store.rows(con, None, definition, id_types)
        return rows.project(f"*, CAST(NULL AS VARCHAR) AS {ident(STORE)}") if with_store else rows
    schema = _common_schema(present, definition)
    ids = list(definition.id_columns)
    served: Relation | None = None
    seen: Relation | None = None
    for index, part in enumerate(present):
        assert part.table is not None
        localize = part.store.engine.localizer(part.store.root, part.store.storage)
        rows = scan(con, part.table.scan(), schema, localize)
        if before is not None:
            rows = rows.filter(f"{ident(CREATED_AT)} <= TIMESTAMPTZ {lit(before.isoformat())}")
        if with_store:
            rows = rows.project(f"*, {lit(part.store.name)} AS {ident(STORE)}")
        if served is None:
            served = rows
        else:
            served = served.union(rows if seen is None else rows.join(seen, ids, how="anti"))
        if overlay and index < len(present) - 1:
            held = rows.project(idents(ids))
            seen = held if seen is None else seen.union(held)
    assert served is not None
    return served


def fallback_links(
    primary: StoreContext, entries: Sequence[tuple[StoreContext, dt.datetime | None]]
) -> tuple[Link, ...]:
    """The links of a chain: each fallback, then its own fallbacks, read-only, in order.

    Every store of the chain is read-only here (whatever it was opened as) and scans in
    the primary's engine session. A store reached twice with one pin is read once.

    Raises:
        StoreConfigError: A store falls back to itself (a loop), one store is reached
            with two pins, or the stores hash with different algorithms (named).
    """
    out: dict[str, Link] = {}
    for store, pin in entries:
        reached = [(store, pin), *((link.ctx, link.pin) for link in store.fallback)]
        for ctx, at in reached:
            if ctx.root == primary.root:
                raise StoreConfigError(
                    f"fallback loop: {primary.label} falls back to itself (through {store.label})"
                )
            if ctx.hash_algorithm != primary.hash_algorithm:
                raise StoreConfigError(
                    f"the stores of one chain must hash alike: {primary.label} uses "
                    f"{primary.hash_algorithm}, its fallback {ctx.label} {ctx.hash_algorithm}"
                )
            seen = out.get(ctx.root)
            if seen is not None and seen.pin != at:
                raise StoreConfigError(
                    f"{ctx.label} is reached twice in the chain of {primary.label}, pinned to "
                    f"{seen.pin} and {at}: pin it once"
                )
            if seen is None:
                view = replace(ctx, read_only=True, engine=primary.engine, fallback=())
                out[ctx.root] = Link(view, at)
    return tuple(out.values())
