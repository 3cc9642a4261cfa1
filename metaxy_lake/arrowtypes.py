"""Arrow type normalisation and lossless casts.

Formats and dataframe libraries spell the same logical type differently (``large_string``
versus ``string``, a map's entries named ``entries`` or ``key_value``). Everything that
compares or casts types goes through here, so those spellings are never a schema error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from metaxy_lake.errors import ColumnTypeError


def normalize(type_: pa.DataType) -> pa.DataType:
    """Return the canonical spelling of a type (string, binary, list, standard map names)."""
    if pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return pa.string()
    if pa.types.is_large_binary(type_) or pa.types.is_binary_view(type_):
        return pa.binary()
    if pa.types.is_list(type_) or pa.types.is_large_list(type_) or pa.types.is_list_view(type_):
        return pa.list_(normalize(type_.value_type))
    if pa.types.is_map(type_):
        return pa.map_(normalize(type_.key_type), normalize(type_.item_type))
    if pa.types.is_struct(type_):
        return pa.struct([pa.field(f.name, normalize(f.type)) for f in type_.fields])
    return type_


def equivalent(a: pa.DataType, b: pa.DataType) -> bool:
    """Whether two types are the same logical type."""
    return bool(normalize(a).equals(normalize(b)))


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether ``source`` may be cast to ``target`` when no value is lost."""
    source, target = normalize(source), normalize(target)
    if source.equals(target) or pa.types.is_null(source):
        return True
    if pa.types.is_integer(target):
        return bool(pa.types.is_integer(source))
    if pa.types.is_floating(target):
        return bool(pa.types.is_floating(source) or pa.types.is_integer(source))
    if pa.types.is_timestamp(target):
        return bool(pa.types.is_timestamp(source) and source.tz is not None)
    if pa.types.is_date(target):
        return bool(pa.types.is_date(source))
    if pa.types.is_list(target):
        return bool(pa.types.is_list(source) and _castable(source.value_type, target.value_type))
    if pa.types.is_map(target):
        return bool(
            pa.types.is_map(source)
            and _castable(source.key_type, target.key_type)
            and _castable(source.item_type, target.item_type)
        )
    if pa.types.is_struct(target) and pa.types.is_struct(source):
        names = {f.name for f in source.fields}
        return names <= {f.name for f in target.fields} and all(
            _castable(source.field(n).type, target.field(n).type) for n in names
        )
    return False


def cast_lossless(array: pa.ChunkedArray, target: pa.DataType, where: str) -> pa.ChunkedArray:
    """Cast a column to ``target``, or raise when the cast would lose or change values.

    Args:
        array: The column.
        target: The declared type.
        where: What the column is, for the error message.

    Raises:
        ColumnTypeError: The cast is not lossless (another kind of type, a naive datetime,
            an integer out of range, a fractional nanosecond...).
    """
    if array.type.equals(target):
        return array
    if (
        pa.types.is_timestamp(array.type)
        and array.type.tz is None
        and pa.types.is_timestamp(target)
    ):
        raise ColumnTypeError(f"{where}: naive datetimes are not accepted; give a time zone")
    if not _castable(array.type, target):
        raise ColumnTypeError(f"{where}: type {array.type} cannot be stored as {target}")
    if pa.types.is_struct(target) and pa.types.is_struct(normalize(array.type)):
        return _cast_struct(array, target, where)
    try:
        return pc.cast(array, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ColumnTypeError(f"{where}: cannot store as {target} without loss: {exc}") from exc


def _cast_struct(array: pa.ChunkedArray, target: pa.DataType, where: str) -> pa.ChunkedArray:
    combined = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    children = []
    for field in target.fields:
        index = combined.type.get_field_index(field.name)
        child = (
            pa.chunked_array([combined.field(index)])
            if index >= 0
            else pa.chunked_array([pa.nulls(len(combined), field.type)])
        )
        children.append(cast_lossless(child, field.type, f"{where}.{field.name}").combine_chunks())
    mask = combined.is_null() if combined.null_count else None
    return pa.chunked_array(
        [pa.StructArray.from_arrays(children, fields=list(target), mask=mask)], type=target
    )


def _pairs(column: pa.ChunkedArray) -> bool:
    """Whether a column holds a map's entries as lists of key-value pairs (a pandas trip)."""
    type_ = normalize(column.type)
    if not pa.types.is_list(type_):
        return False
    inner = type_.value_type
    if pa.types.is_struct(inner):
        return [f.name for f in inner.fields] == ["key", "value"]
    return bool(pa.types.is_list(inner))


def restore_maps(table: pa.Table, targets: Mapping[str, pa.DataType]) -> pa.Table:
    """Map columns that a pandas or numpy round trip turned into lists of pairs, as maps.

    Arrow maps become lists of ``(key, value)`` tuples in pandas, which come back as
    ``list<list<string>>`` (or ``list<struct<key, value>>``). Columns of ``targets``
    that are map types and hold such lists are rebuilt as those maps; every other column
    is left as it is, for the checks that follow to judge.

    Args:
        table: The frame.
        targets: Column → its declared type.
    """
    for name, target in targets.items():
        if name not in table.column_names or not pa.types.is_map(target):
            continue
        column = table.column(name)
        if pa.types.is_map(column.type) or not _pairs(column):
            continue
        try:
            values = [None if v is None else [_pair(p) for p in v] for v in column.to_pylist()]
            restored = pa.chunked_array([pa.array(values, type=target)], type=target)
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise ColumnTypeError(
                f"column {name!r} holds {column.type}, which is no list of (key, value) "
                f"pairs of {target}: {exc}"
            ) from exc
        table = table.set_column(table.schema.get_field_index(name), name, restored)
    return table


def _pair(entry: Any) -> tuple[Any, Any]:
    if isinstance(entry, dict):
        return entry["key"], entry["value"]
    key, value = entry
    return key, value
