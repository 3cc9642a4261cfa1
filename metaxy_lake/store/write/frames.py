"""Frames handed in: conversion to Arrow, id and column checks, normalisation.

Every check runs before anything is written, and each failure raises an error named for
what is wrong; the checks of the system columns run in DuckDB (``engine.frames``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.arrowtypes import cast_lossless, restore_maps
from metaxy_lake.engine.frames import normalize_system_columns
from metaxy_lake.engine.relations import Relation
from metaxy_lake.errors import (
    ColumnTypeError,
    DuplicateColumnError,
    InvalidFrameError,
    MissingColumnError,
    MissingIdColumnError,
    MissingProvenanceError,
    NullIdError,
    UndeclaredColumnError,
)
from metaxy_lake.graph import FeatureDefinition
from metaxy_lake.schema import (
    DATA_VERSION_BY_FIELD,
    INCREMENT_COLUMNS,
    PROVENANCE,
    PROVENANCE_BY_FIELD,
    STRING_MAP,
    SYSTEM_COLUMNS,
    UPSTREAM,
    canonical_id_type,
    is_id_type,
)
from metaxy_lake.types import FrameLike


def to_arrow(frame: FrameLike) -> pa.Table:
    """Return any narwhals-compatible frame (eager or lazy) as an Arrow table.

    Raises:
        DuplicateColumnError: A column name appears more than once.
        InvalidFrameError: ``frame`` is not a dataframe narwhals knows.
    """
    try:
        table = _converted(frame)
    except nw.exceptions.DuplicateError as exc:  # pandas and DuckDB allow repeated names
        _check_names([str(c) for c in getattr(frame, "columns", ())])
        said = " ".join(str(exc).split())  # narwhals lists the names on lines of their own
        raise DuplicateColumnError(f"the frame repeats a column name: {said}") from exc
    _check_names(table.column_names)
    return table


def _converted(frame: FrameLike) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    try:
        wrapped = nw.from_native(frame)
    except TypeError as exc:
        raise InvalidFrameError(
            f"expected a dataframe (polars, pandas, pyarrow, DuckDB...), got {type(frame)!r}"
        ) from exc
    eager = wrapped.collect() if isinstance(wrapped, nw.LazyFrame) else wrapped
    try:
        table: pa.Table = eager.to_arrow()
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        if eager.implementation is not nw.Implementation.PANDAS:
            raise
        return _from_pandas(frame)
    return table


def _check_names(names: Sequence[str]) -> None:
    """Refuse a frame whose column names repeat, naming the repeated ones.

    Raises:
        DuplicateColumnError: A name appears more than once (pandas and DuckDB frames and
            Arrow tables allow it; a pandas label ``1`` and ``"1"`` both become ``"1"``).
    """
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DuplicateColumnError(
            f"the frame has more than one column named {', '.join(map(repr, repeated))}; "
            "rename or drop the copies"
        )


def _from_pandas(frame: Any) -> pa.Table:
    """A pandas frame as Arrow, also where a map's ``(key, value)`` tuples mix types.

    pandas holds a map column as lists of tuples; Arrow reads a tuple as a list, so a map
    of text to numbers fails to convert. Such a column is read as lists of key-value
    structs, which ``restore_maps`` turns back into the declared map.
    """
    if frame.index.name is not None or type(frame.index).__name__ != "RangeIndex":
        frame = frame.reset_index()  # as Arrow's conversion keeps a named or non-range index
    columns: dict[str, pa.Array] = {}
    for name in frame.columns:
        series = frame[name]
        try:
            columns[str(name)] = pa.array(series, from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            columns[str(name)] = pa.array([_entries(v) for v in series], from_pandas=True)
    return pa.table(columns)


def _entries(value: Any) -> Any:
    if isinstance(value, list | tuple) and all(isinstance(e, tuple) and len(e) == 2 for e in value):
        return [{"key": k, "value": v} for k, v in value]
    return value


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


def prepare_write(
    con: duckdb.DuckDBPyConnection,
    definition: FeatureDefinition,
    table: pa.Table,
    id_types: Mapping[str, pa.DataType],
) -> Relation:
    """Validate a frame for ``write`` and return it normalised (nothing stamped yet).

    Keeps id columns, declared user columns and the provenance columns the writer supplies;
    drops the increment's extra columns and the columns ``write`` stamps itself. Map
    columns that a pandas round trip turned into lists of pairs are maps again.

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
        and c not in INCREMENT_COLUMNS
    ]
    if undeclared:
        raise UndeclaredColumnError(
            f"feature {key}: frame has undeclared column(s) {undeclared}; declare them on the "
            "feature class or drop them"
        )
    table = check_ids(key, table, definition.id_columns, id_types)
    maps = dict.fromkeys((PROVENANCE_BY_FIELD, DATA_VERSION_BY_FIELD, UPSTREAM), STRING_MAP)
    table = restore_maps(table, {**maps, **definition.user_columns})

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
