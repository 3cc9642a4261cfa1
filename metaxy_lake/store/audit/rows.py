"""The audit-row toolkit: a feature's rows of some samples, and their upstream rows.

Lineage, explain and sample status read the rows of the samples asked about through the
store's chain (every row, or the live one), find the upstream row a row was computed from,
and hand back Arrow tables as narwhals frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.engine.recipe import HashSettings
from metaxy_lake.engine.relations import commit_order, latest, narwhals_filter
from metaxy_lake.formats import AsOf
from metaxy_lake.graph import FeatureDefinition, ResolvedDep
from metaxy_lake.schema import CREATED_AT, DATA_VERSION, DELETED_AT, UPSTREAM
from metaxy_lake.store.audit.samples import id_values, sample_filter, sample_keys
from metaxy_lake.store.tables.chain import chain_id_types, chain_rows, open_chain
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.types import SampleIds


@dataclass(frozen=True)
class Rows:
    """Rows of one feature read from every store of a chain.

    With their Arrow schema, and the samples asked for (id columns, checked and typed).
    """

    definition: FeatureDefinition
    rows: list[dict[str, Any]]
    schema: pa.Schema
    keys: pa.Table


def history_rows(
    ctx: StoreContext,
    con: duckdb.DuckDBPyConnection,
    definition: FeatureDefinition,
    settings: HashSettings,
    ids: SampleIds,
    as_of: AsOf | None = None,
    *,
    live: bool = False,
    filters: Sequence[Any] = (),
) -> Rows:
    """The rows of the samples ``ids`` names, as of ``as_of``.

    All of them in every store of the chain (tombstones included), or with ``live`` the
    live row the chain serves (and only where ``filters`` hold).

    Raises:
        MissingIdColumnError: A sample lacks an id column (or another ids error).
        TimeTravelError: ``as_of`` is before the table existed, or beyond its history.
    """
    tables = open_chain(ctx, definition, settings, as_of)
    id_types = chain_id_types(tables, definition)
    keys = sample_keys(definition.key, ids, definition.id_columns, id_types)
    rel = chain_rows(con, tables, definition, id_types, with_store=True, overlay=live)
    if live:
        rel = latest(rel, definition.id_columns)
    arrow = narwhals_filter(rel, [sample_filter(keys), *filters]).to_arrow_table()
    return Rows(definition, arrow.to_pylist(), arrow.schema, keys)


def upstream_keys(dep: ResolvedDep, children: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The upstream samples that ``children`` name through ``dep`` (its id columns)."""
    seen = {id_values(child, list(dep.id_columns.values())) for child in children}
    return [dict(zip(dep.id_columns, ids, strict=True)) for ids in seen]


def parent_row(
    dep: ResolvedDep, candidates: Sequence[Mapping[str, Any]], child: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The upstream row ``child`` was computed from, None if it is gone.

    The latest row of its sample that is no tombstone, has the recorded data version
    and was written at or before the child.
    """
    version = dict(child[UPSTREAM] or []).get(str(dep.key))
    ids = {src: child[name] for src, name in dep.id_columns.items()}
    best: dict[str, Any] | None = None
    for row in candidates:
        if (
            row[DELETED_AT] is None
            and row[DATA_VERSION] == version
            and row[CREATED_AT] <= child[CREATED_AT]
            and all(row[c] == v for c, v in ids.items())
            and (best is None or commit_order(row) > commit_order(best))
        ):
            best = dict(row)
    return best


def union_fields(fields: Iterable[pa.Field]) -> tuple[list[pa.Field], set[str]]:
    """One field per name; a name with two types becomes text (and is listed)."""
    out: dict[str, pa.Field] = {}
    clash: set[str] = set()
    for f in fields:
        seen = out.get(f.name)
        if seen is None:
            out[f.name] = f.with_nullable(True)
        elif not seen.type.equals(f.type):
            out[f.name] = pa.field(f.name, pa.string())
            clash.add(f.name)
    return list(out.values()), clash


def as_frame(table: pa.Table) -> nw.DataFrame[pa.Table]:
    """An Arrow table as the narwhals DataFrame the public API returns."""
    return nw.from_native(table, eager_only=True)
