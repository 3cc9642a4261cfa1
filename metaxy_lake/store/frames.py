"""Frames handed in: conversion to Arrow, validation and normalisation.

Every check runs before anything is written, and each failure raises an error named for
what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.arrowtypes import cast_lossless
from metaxy_lake.engine.maps import pair, pair_items, split
from metaxy_lake.engine.relations import SRC, Relation, materialize, query
from metaxy_lake.engine.sql import ident, idents, lit, string_list
from metaxy_lake.errors import (
    ColumnTypeError,
    DuplicateSampleError,
    InvalidFrameError,
    MissingColumnError,
    MissingIdColumnError,
    MissingProvenanceError,
    NullIdError,
    ProvenanceKeysError,
    UndeclaredColumnError,
)
from metaxy_lake.graph.definition import FeatureDefinition
from metaxy_lake.schema import (
    CHANGED_FIELDS,
    DATA_VERSION_BY_FIELD,
    PROVENANCE,
    PROVENANCE_BY_FIELD,
    SYSTEM_COLUMNS,
    UPSTREAM,
    canonical_id_type,
    is_id_type,
)

_FRAME = "_mxl_frame"
_MAP_COLUMNS = (PROVENANCE_BY_FIELD, DATA_VERSION_BY_FIELD, UPSTREAM)


def to_arrow(frame: Any) -> pa.Table:
    """Return any narwhals-compatible frame (eager or lazy) as an Arrow table.

    Raises:
        InvalidFrameError: ``frame`` is not a dataframe narwhals knows.
    """
    if isinstance(frame, pa.Table):
        return frame
    try:
        wrapped = nw.from_native(frame)
    except TypeError as exc:
        raise InvalidFrameError(
            f"expected a dataframe (polars, pandas, pyarrow, DuckDB...), got {type(frame)!r}"
        ) from exc
    eager = wrapped.collect() if isinstance(wrapped, nw.LazyFrame) else wrapped
    table: pa.Table = eager.to_arrow()
    return table


def check_ids(
    key: object, table: pa.Table, id_columns: Sequence[str], id_types: Mapping[str, pa.DataType]
) -> pa.Table:
    """Check id columns (present, typed, non-null) and cast them to their types.

    Uniqueness is checked by ``normalize_system_columns``, in DuckDB.

    Args:
        key: The feature key, for messages.
        table: The frame.
        id_columns: The feature's id columns.
        id_types: Known stored types; others are fixed from the frame (string or integer).
    """
    missing = [c for c in id_columns if c not in table.column_names]
    if missing:
        raise MissingIdColumnError(f"feature {key}: frame lacks id column(s) {missing}")
    for name in id_columns:
        column = table.column(name)
        target = id_types.get(name)
        if target is None:
            if not is_id_type(column.type) and not pa.types.is_null(column.type):
                raise ColumnTypeError(
                    f"feature {key}: id column {name!r} has type {column.type}; ids are "
                    "strings or integers"
                )
            target = canonical_id_type(column.type)
        column = cast_lossless(column, target, f"feature {key} id column {name!r}")
        if column.null_count:
            raise NullIdError(
                f"feature {key}: id column {name!r} holds {column.null_count} null(s)"
            )
        table = table.set_column(table.schema.get_field_index(name), name, column)
    return table


def _pair_items(table: pa.Table, column: str, fields: Sequence[str], key: object) -> list[str]:
    """Select items turning a map or struct provenance column into a string-map pair.

    A map column reaches DuckDB already split into its pair (``maps.split``).
    """
    type_ = table.schema.field(column).type
    if pa.types.is_struct(type_):
        names = sorted(f.name for f in type_.fields)
        if column == PROVENANCE_BY_FIELD and names != sorted(fields):
            raise ProvenanceKeysError(
                f"feature {key}: {column} has keys {names}, the feature declares {sorted(fields)}"
            )
        unknown = sorted(set(names) - set(fields))
        if unknown:
            raise ProvenanceKeysError(f"feature {key}: {column} names undeclared fields {unknown}")
        values = ", ".join(f"CAST({ident(column)}.{ident(n)} AS VARCHAR)" for n in names)
        absent = f"{ident(column)} IS NULL"
        return pair_items(
            column,
            f"CASE WHEN {absent} THEN NULL ELSE {string_list(names)} END",
            f"CASE WHEN {absent} THEN NULL ELSE [{values}]::VARCHAR[] END",
        )
    if pa.types.is_map(type_):
        keys, values = (ident(name) for name in pair(column))
        return pair_items(column, f"CAST({keys} AS VARCHAR[])", f"CAST({values} AS VARCHAR[])")
    if pa.types.is_null(type_):
        return pair_items(column, "CAST(NULL AS VARCHAR[])", "CAST(NULL AS VARCHAR[])")
    raise ColumnTypeError(f"feature {key}: {column} must be a map or a struct, not {type_}")


def _check_unique(rel: Relation, key: object, id_columns: Sequence[str]) -> None:
    ids = idents(id_columns)
    found = query(
        rel,
        f"SELECT count(*) OVER (), * FROM (SELECT {ids} FROM {SRC} GROUP BY ALL "
        f"HAVING count(*) > 1) LIMIT 1",
    ).fetchall()
    if found:
        example = dict(zip(id_columns, found[0][1:], strict=True))
        raise DuplicateSampleError(
            f"feature {key}: {found[0][0]} sample id(s) appear more than once in one frame, "
            f"e.g. {example}"
        )


def normalize_system_columns(
    con: duckdb.DuckDBPyConnection,
    definition: FeatureDefinition,
    table: pa.Table,
) -> Relation:
    """Turn the provenance-like columns into string maps and check them row by row.

    The frame is read into DuckDB once, into temporary table ``_mxl_frame`` of ``con``
    (a session of the caller's own); the returned relation reads it. Its maps
    (``metaxy_provenance_by_field``, and ``metaxy_data_version_by_field`` and
    ``metaxy_upstream`` when given) are held as pairs of key and value lists
    (``engine.maps``).

    Checks: sample ids are unique; ``metaxy_provenance_by_field`` keys equal the declared
    fields in every row and its values are non-null; an override
    ``metaxy_data_version_by_field`` names only declared fields; ``metaxy_provenance`` is
    non-null.
    """
    key, fields = definition.key, definition.field_names
    selected: dict[str, list[str]] = {c: [ident(c)] for c in table.column_names}
    maps = [c for c in _MAP_COLUMNS if c in table.column_names]
    for column in maps:
        selected[column] = _pair_items(table, column, fields, key)
    if PROVENANCE in table.column_names:
        selected[PROVENANCE] = [f"CAST({ident(PROVENANCE)} AS VARCHAR) AS {ident(PROVENANCE)}"]
    arrow = split(table, [c for c in maps if pa.types.is_map(table.schema.field(c).type)])
    select = ", ".join(item for column in selected.values() for item in column)
    rel = materialize(con, query(con.from_arrow(arrow), f"SELECT {select} FROM {SRC}"), _FRAME)
    _check_unique(rel, key, definition.id_columns)

    pbf_keys, pbf_values = (ident(name) for name in pair(PROVENANCE_BY_FIELD))
    checks = {
        # k distinct declared fields among k keys: exactly the declared keys (no sort needed)
        "bad_keys": (
            f"{pbf_keys} IS NULL OR len({pbf_keys}) <> {len(fields)} "
            f"OR NOT list_has_all({pbf_keys}, {string_list(fields)})"
        ),
        "null_values": f"list_count({pbf_values}) <> len({pbf_values})",
    }
    if DATA_VERSION_BY_FIELD in table.column_names:
        dv_keys = ident(pair(DATA_VERSION_BY_FIELD)[0])
        checks["bad_override"] = f"NOT list_has_all({string_list(fields)}, coalesce({dv_keys}, []))"
    if PROVENANCE in table.column_names:
        checks["null_provenance"] = f"{ident(PROVENANCE)} IS NULL"
    ids = ", ".join(f"{lit(c)}: {ident(c)}" for c in definition.id_columns)
    items = ", ".join(
        f"count(*) FILTER (WHERE {cond}), CAST(first({{{ids}}}) FILTER (WHERE {cond}) AS VARCHAR)"
        for cond in checks.values()
    )
    found = query(rel, f"SELECT {items} FROM {SRC}").fetchall()[0]
    for i, name in enumerate(checks):
        count, example = found[2 * i], found[2 * i + 1]
        if not count:
            continue
        if name == "bad_keys":
            raise ProvenanceKeysError(
                f"feature {key}: {count} row(s) have {PROVENANCE_BY_FIELD} keys other than the "
                f"declared fields {list(fields)}, e.g. sample {example}"
            )
        if name == "null_values":
            raise MissingProvenanceError(
                f"feature {key}: {count} row(s) have null values in {PROVENANCE_BY_FIELD}, "
                f"e.g. sample {example}"
            )
        if name == "bad_override":
            raise ProvenanceKeysError(
                f"feature {key}: {DATA_VERSION_BY_FIELD} names fields the feature does not "
                f"declare ({list(fields)}), e.g. sample {example}"
            )
        raise MissingProvenanceError(
            f"feature {key}: {count} row(s) have a null {PROVENANCE}, e.g. sample {example}"
        )
    return rel


def prepare_write(
    con: duckdb.DuckDBPyConnection,
    definition: FeatureDefinition,
    table: pa.Table,
    id_types: Mapping[str, pa.DataType],
) -> Relation:
    """Validate a frame for ``write`` and return it normalised (nothing stamped yet).

    Keeps id columns, declared user columns and the provenance columns the writer supplies;
    drops the increment's extra columns and the columns ``write`` stamps itself.

    Raises:
        InvalidFrameError: A subclass naming what is wrong.
    """
    key = definition.key
    declared = set(definition.id_columns) | set(definition.user_columns)
    carried = set(definition.carried_columns())
    undeclared = [
        c
        for c in table.column_names
        if c not in declared
        and c not in carried
        and c not in SYSTEM_COLUMNS
        and c != CHANGED_FIELDS
    ]
    if undeclared:
        raise UndeclaredColumnError(
            f"feature {key}: frame has undeclared column(s) {undeclared}; declare them on the "
            "feature class or drop them"
        )
    table = check_ids(key, table, definition.id_columns, id_types)

    needed = (
        [PROVENANCE_BY_FIELD] if definition.is_root else [PROVENANCE_BY_FIELD, PROVENANCE, UPSTREAM]
    )
    absent = [c for c in needed if c not in table.column_names]
    if absent:
        if definition.is_root:
            raise MissingProvenanceError(
                f"feature {key} is a root: its rows must carry {PROVENANCE_BY_FIELD} "
                "(field → provenance, e.g. a file checksum) for fields "
                f"{list(definition.field_names)}"
            )
        raise MissingProvenanceError(
            f"feature {key}: frame lacks system column(s) {absent}; write the new or stale "
            "rows of resolve_update(), which carry them"
        )

    columns: dict[str, pa.ChunkedArray] = {c: table.column(c) for c in definition.id_columns}
    for name, type_ in definition.user_columns.items():
        if name in table.column_names:
            columns[name] = cast_lossless(
                table.column(name), type_, f"feature {key} column {name!r}"
            )
        elif name in definition.required_columns:
            raise MissingColumnError(f"feature {key}: frame lacks required column {name!r}")
        else:
            columns[name] = pa.chunked_array([pa.nulls(table.num_rows, type_)])
    for name in (*needed, DATA_VERSION_BY_FIELD):
        if name in table.column_names:
            columns[name] = table.column(name)
    return normalize_system_columns(con, definition, pa.table(columns))


def prepare_samples(
    con: duckdb.DuckDBPyConnection,
    definition: FeatureDefinition,
    table: pa.Table,
    id_types: Mapping[str, pa.DataType],
) -> Relation:
    """Validate the ``samples`` of a root's ``resolve_update``: ids and provenance."""
    table = check_ids(definition.key, table, definition.id_columns, id_types)
    if PROVENANCE_BY_FIELD not in table.column_names:
        raise MissingProvenanceError(
            f"feature {definition.key}: samples must carry {PROVENANCE_BY_FIELD}"
        )
    extra = [c for c in table.column_names if c.startswith("metaxy_") and c != PROVENANCE_BY_FIELD]
    return normalize_system_columns(con, definition, table.drop_columns(extra))
