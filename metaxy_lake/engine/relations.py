"""DuckDB relations over lake tables: scans, live rows, filters and shards.

Everything here composes lazy ``DuckDBPyRelation`` objects and leaves no named view
behind, so a relation stays valid for as long as the caller holds it. ``materialize``
keeps rows in a temporary table of a connection of their own (``EngineSession.cursor``):
it lives exactly as long as some relation over it does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.engine.sql import ident, idents
from metaxy_lake.errors import InvalidFilterError, InvalidShardError
from metaxy_lake.formats import ParquetScan, ScanSource
from metaxy_lake.schema import CREATED_AT, DELETED_AT, WRITE_ID

Relation = duckdb.DuckDBPyRelation
SRC = "src"
"""The name a relation goes by inside ``Relation.query``."""


def query(rel: Relation, sql: str) -> Relation:
    """Run ``sql`` over ``rel`` (named ``src`` in it), lazily, as a new relation."""
    out = rel.query(SRC, sql)
    if out is None:  # pragma: no cover - only statements without a result give None
        raise ValueError(f"not a query: {sql}")
    return out


def materialize(con: duckdb.DuckDBPyConnection, rel: Relation, name: str) -> Relation:
    """Compute ``rel`` once into temporary table ``name`` of ``con``; a relation over it.

    ``rel`` must belong to ``con``. The table is dropped with ``con``, which every
    relation over it keeps alive.
    """
    view = f"{name}_source"
    rel.create_view(view)
    try:
        con.execute(f"CREATE TEMP TABLE {ident(name)} AS FROM {ident(view)}")
    finally:
        con.execute(f"DROP VIEW {ident(view)}")
    return con.table(name)


def empty(con: duckdb.DuckDBPyConnection, schema: pa.Schema) -> Relation:
    """A typed relation with no rows."""
    return con.from_arrow(schema.empty_table())


def scan(
    con: duckdb.DuckDBPyConnection,
    source: ScanSource | None,
    schema: pa.Schema,
    localize: Callable[[str], str] | None = None,
) -> Relation:
    """A relation over a table's rows, with exactly the columns of ``schema``.

    Columns the data files lack (added by schema evolution) read as typed NULLs;
    ``localize`` rewrites object-store file URIs to the store's DuckDB filesystem.
    """
    typed = empty(con, schema)
    if source is None:
        return typed
    if isinstance(source, ParquetScan):
        if not source.files:
            return typed
        files = [localize(f) for f in source.files] if localize else list(source.files)
        rel = con.read_parquet(files, union_by_name=True)
    else:
        rel = con.from_arrow(source.dataset)
    present = set(rel.columns)
    types = dict(zip(typed.columns, (str(t) for t in typed.types), strict=True))
    projection = [
        ident(name) if name in present else f"CAST(NULL AS {types[name]}) AS {ident(name)}"
        for name in schema.names
    ]
    return rel.project(", ".join(projection))


def arrow_types(rel: Relation, names: Sequence[str]) -> dict[str, pa.DataType]:
    """The Arrow types of some of a relation's columns (computes no rows)."""
    schema = rel.limit(0).to_arrow_table().schema
    return {name: schema.field(name).type for name in names}


LIVE_ORDER = (CREATED_AT, WRITE_ID)
"""The live-row rule's order: of a sample's rows, tombstones included, the greatest by
these columns is its live row (none if that row is a tombstone)."""


def commit_order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A row's place in its sample's history by the live-row rule: the greatest is the latest.

    ``latest``'s order, for code that must order rows in Python (the audits).
    """
    return tuple(row[c] for c in LIVE_ORDER)


def latest(rel: Relation, id_columns: Sequence[str], include_deleted: bool = False) -> Relation:
    """The latest row of every sample (the live row), dropping tombstones unless asked.

    Rows are ordered by ``LIVE_ORDER`` (``metaxy_created_at``, then ``metaxy_write_id``).
    """
    where = "" if include_deleted else f"WHERE {ident(DELETED_AT)} IS NULL"
    order = ", ".join(f"{ident(c)} DESC" for c in LIVE_ORDER)
    return query(
        rel,
        f"SELECT * FROM (SELECT * FROM {SRC} QUALIFY row_number() OVER ("
        f"PARTITION BY {idents(id_columns)} ORDER BY {order}) = 1) {where}",
    )


def only_samples(rel: Relation, samples: Relation, columns: Mapping[str, str]) -> Relation:
    """Every row of ``rel`` whose sample is one of ``samples`` (a semi-join).

    ``columns`` maps each id column of ``rel`` to its name in ``samples``.
    """
    condition = " AND ".join(
        f"_mxl_r.{ident(mine)} = _mxl_s.{ident(theirs)}" for mine, theirs in columns.items()
    )
    return rel.set_alias("_mxl_r").join(samples.set_alias("_mxl_s"), condition, how="semi")


def filter_sql(con: duckdb.DuckDBPyConnection, rel: Relation, exprs: Sequence[nw.Expr]) -> str:
    """Narwhals expressions (ANDed) as DuckDB renders them over ``rel``'s columns.

    Rendered as ``narwhals_flag`` applies them; the text names no table and no Python
    object, so it is the same in every process for the same expressions (``col == 1`` and
    ``col == "1"`` differ); empty without any.

    Raises:
        InvalidFilterError: An expression names an unknown column or cannot apply.
    """
    if not exprs:
        return ""
    name = f"_mxl_shape_{uuid.uuid4().hex}"
    rel.limit(0).create(name)
    try:
        text = narwhals_flag(con.table(name), exprs, "_mxl_flag", every=True).sql_query()
    finally:
        con.execute(f"DROP TABLE {ident(name)}")
    return text.replace(ident(name), "_").replace(name, "_")


def shard_sql(id_columns: Sequence[str], count: int) -> str:
    """SQL for a sample's shard: md5 of the id values as text, joined by ``|``.

    The first 15 hex digits read as an integer, modulo ``count``.
    """
    text = " || '|' || ".join(f"CAST({ident(c)} AS VARCHAR)" for c in id_columns)
    return f"(('0x' || left(md5({text}), 15))::UBIGINT % {count})"


def check_shard(shard: tuple[int, int] | None) -> None:
    """Raise ``InvalidShardError`` unless ``shard`` is ``(index, count)``, 0 <= index < count."""
    if shard is not None and not (
        len(shard) == 2 and all(isinstance(n, int) for n in shard) and 0 <= shard[0] < shard[1]
    ):
        raise InvalidShardError(
            f"shard must be (index, count) with 0 <= index < count, got {shard}"
        )


def in_shard(rel: Relation, id_columns: Sequence[str], shard: tuple[int, int] | None) -> Relation:
    """Keep the samples of shard ``(index, count)``; all of them when ``shard`` is None."""
    if shard is None:
        return rel
    index, count = shard
    return rel.filter(f"{shard_sql(id_columns, count)} = {index}")


@contextmanager
def _applying(exprs: Sequence[nw.Expr]) -> Iterator[None]:
    """Name the expressions when narwhals or DuckDB cannot apply them."""
    try:
        yield
    except (duckdb.Error, nw.exceptions.NarwhalsError, TypeError, ValueError) as exc:
        said = " ".join(str(exc).split())  # one line (narwhals adds a hint after a blank line)
        raise InvalidFilterError(
            f"cannot apply filter {', '.join(map(str, exprs))}: {type(exc).__name__}: {said}"
        ) from exc


def narwhals_filter(rel: Relation, exprs: Sequence[nw.Expr]) -> Relation:
    """Apply narwhals expressions (ANDed) to a relation.

    Raises:
        InvalidFilterError: An expression names an unknown column or cannot apply.
    """
    if not exprs:
        return rel
    with _applying(exprs):
        frame = nw.from_native(rel).filter(*exprs)
        native: Relation = nw.to_native(frame)
    return native


def narwhals_flag(rel: Relation, exprs: Sequence[nw.Expr], name: str, *, every: bool) -> Relation:
    """Add a boolean column: every (or any) expression holds; a null counts as false.

    With no expressions the flag is ``every`` (all of none hold; any of none does not).
    """
    if not exprs:
        return rel.project(f"*, {str(every).lower()} AS {ident(name)}")
    combine = nw.all_horizontal if every else nw.any_horizontal
    with _applying(exprs):
        frame = nw.from_native(rel).with_columns(
            combine(*exprs, ignore_nulls=False).fill_null(value=False).alias(name)
        )
        native: Relation = nw.to_native(frame)
    return native
