"""An aggregation's groups, for audits (docs/design.md, Lineage rows).

A row of a feature that aggregates an upstream feature (``aggregation(on=[...])``) stands
for a group: the upstream live rows whose ``on`` values are the row's and that pass the
dep's filters. Lineage and explain find a group's rows as they were live at a time (the
row's write time, or now) and hash them with the increment's SQL (``group_hash``), so a
group found can be checked against the data version the row recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.engine.expected import renamed_rows
from metaxy_lake.engine.recipe import HashSettings, group_hash, map_value
from metaxy_lake.engine.relations import SRC, commit_order, latest, narwhals_filter, query
from metaxy_lake.engine.sql import ident, idents
from metaxy_lake.formats import AsOf
from metaxy_lake.graph import FeatureDefinition, ResolvedDep
from metaxy_lake.schema import (
    CREATED_AT,
    DATA_VERSION,
    DATA_VERSION_BY_FIELD,
    WRITE_ID,
)
from metaxy_lake.store.tables.chain import ChainTable, chain_id_types, chain_rows, open_chain
from metaxy_lake.store.tables.context import StoreContext

GROUP = "_mxl_group"
"""Marks a row that stands for a group (explain does not recurse through it)."""


@dataclass(frozen=True)
class Group:
    """The upstream rows of one group, and what they hash to.

    Attributes:
        members: The rows (under their stored column names), in upstream id order.
        data_version_by_field: Upstream field → the hash of the members' data versions
            (None where a member lacks one).
        data_version: The hash of the members' sample data versions.
    """

    members: list[dict[str, Any]]
    data_version_by_field: dict[str, str | None]
    data_version: str | None
    schema: pa.Schema
    """The members' Arrow schema, under their stored column names."""

    def as_row(self) -> dict[str, Any] | None:
        """The group as one upstream row (explain's view), None when it has no member.

        Its commit is the newest member's.
        """
        if not self.members:
            return None
        newest = max(self.members, key=commit_order)
        return {
            GROUP: True,
            DATA_VERSION_BY_FIELD: list(self.data_version_by_field.items()),
            DATA_VERSION: self.data_version,
            WRITE_ID: newest[WRITE_ID],
            CREATED_AT: newest[CREATED_AT],
        }


@dataclass(frozen=True)
class GroupReader:
    """An aggregation dep's upstream chain, opened once, to find the groups of many rows.

    Attributes:
        con: The operation's connection.
        settings: The store's hash settings.
        dep: An aggregation dep.
        upstream: The dep's feature.
        tables: The upstream's tables, through the store's chain.
    """

    con: duckdb.DuckDBPyConnection
    settings: HashSettings
    dep: ResolvedDep
    upstream: FeatureDefinition
    tables: list[ChainTable]

    @classmethod
    def open(
        cls,
        ctx: StoreContext,
        con: duckdb.DuckDBPyConnection,
        settings: HashSettings,
        dep: ResolvedDep,
        upstream: FeatureDefinition,
        as_of: AsOf | None = None,
    ) -> GroupReader:
        """Open ``dep``'s upstream tables through ``ctx``'s chain (as of ``as_of``)."""
        return cls(con, settings, dep, upstream, open_chain(ctx, upstream, settings, as_of))

    def group(
        self, row: Mapping[str, Any], at: dt.datetime | None, filters: Sequence[Any] = ()
    ) -> Group:
        """The group ``row`` stands for: its members live at ``at`` (or now).

        Args:
            row: A row of the aggregating feature (it holds the ``on`` columns).
            at: The time the members were live at; None for now.
            filters: Filters on the dep's rows besides its own (explain's, for now).
        """
        dep, upstream, settings = self.dep, self.upstream, self.settings
        types = chain_id_types(self.tables, upstream)
        rel = chain_rows(self.con, self.tables, upstream, types, with_store=True, before=at)
        live = renamed_rows(latest(rel, list(upstream.id_columns)), dep)
        same = [nw.col(k) == row[k] for k in dep.keys]
        found = narwhals_filter(live, [*dep.filters, *filters, *same])
        order = idents(dep.id_columns.values())
        fields = [str(f.key) for f in upstream.fields]
        values = [map_value(DATA_VERSION_BY_FIELD, f) for f in fields] + [ident(DATA_VERSION)]
        hashes = query(
            found, f"SELECT {', '.join(group_hash(v, order, settings) for v in values)} FROM {SRC}"
        )
        (hashed,) = hashes.fetchall()
        arrow = found.order(order).to_arrow_table()
        stored = {name: column for column, name in dep.renamed.items()}
        schema = pa.schema([f.with_name(stored.get(f.name, f.name)) for f in arrow.schema])
        members = [{stored.get(k, k): v for k, v in r.items()} for r in arrow.to_pylist()]
        return Group(members, dict(zip(fields, hashed[:-1], strict=True)), hashed[-1], schema)
