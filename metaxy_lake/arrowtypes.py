"""Arrow type normalisation and lossless casts.

Formats and dataframe libraries spell the same logical type differently (``large_string``
versus ``string``, a map's entries named ``entries`` or ``key_value``). Everything that
compares or casts types goes through here, so those spellings are never a schema error.
"""

from __future__ import annotations

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
