"""User column types: pydantic annotations as Arrow types (docs/on-disk-format.md, section 2)."""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from metaxy_lake.errors import UnsupportedColumnTypeError
from metaxy_lake.schema import TIMESTAMP

_SCALARS: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    dt.datetime: TIMESTAMP,
    dt.date: pa.date32(),
}


def arrow_type(annotation: Any, where: str) -> pa.DataType:
    """Return the Arrow type stored for a pydantic annotation.

    Args:
        annotation: The annotation (``str``, ``list[int]``, ``Optional[Model]``...).
        where: What is being typed, for the error message.

    Raises:
        UnsupportedColumnTypeError: The annotation has no lakehouse equivalent.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return arrow_type(inner[0], where)
    elif origin is typing.Annotated:
        return arrow_type(args[0], where)
    elif origin is list and len(args) == 1:
        return pa.list_(arrow_type(args[0], where))
    elif origin is dict and len(args) == 2 and args[0] is str:
        return pa.map_(pa.string(), arrow_type(args[1], where))
    elif annotation in _SCALARS:
        return _SCALARS[annotation]
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(
            [
                pa.field(name, arrow_type(f.annotation, f"{where}.{name}"))
                for name, f in annotation.model_fields.items()
            ]
        )
    raise UnsupportedColumnTypeError(
        f"{where}: type {annotation!r} is not supported (use str, int, float, bool, bytes, "
        "datetime, date, list[T], dict[str, T], a nested model, or Optional of these)"
    )
