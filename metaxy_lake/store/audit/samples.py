"""Samples named by their ids: where lineage, explain and sample status start.

``ids`` is one sample's ids as a mapping (``{"sample_uid": "s1"}``), a sequence of such
mappings or, for a feature with one id column, of plain values (``["s1", "s2"]``), or a
frame holding the id columns. Values are checked and cast as a write's ids are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import narwhals as nw
import pyarrow as pa

from metaxy_lake.errors import MissingIdColumnError, UndeclaredColumnError
from metaxy_lake.store.write.frames import check_ids, to_arrow
from metaxy_lake.types import SampleIds


def sample_records(ids: SampleIds, id_columns: Sequence[str]) -> list[dict[str, Any]]:
    """The samples ``ids`` names, each as a mapping of column → value (unchecked).

    Raises:
        MissingIdColumnError: Plain values where there are several id columns.
    """
    if isinstance(ids, Mapping):
        return [dict(ids)]
    items: Sequence[object]
    if isinstance(ids, str | bytes | int):
        items = [ids]  # one plain value
    elif isinstance(ids, Sequence):
        items = ids
    else:
        return list(to_arrow(ids).to_pylist())
    out = []
    for item in items:
        if isinstance(item, Mapping):
            out.append(dict(item))
        elif len(id_columns) == 1:
            out.append({id_columns[0]: item})
        else:
            raise MissingIdColumnError(
                f"a plain id value ({item!r}) names a sample only with one id column; "
                f"give each sample as a mapping of {list(id_columns)}"
            )
    return out


def id_values(row: Mapping[str, Any], id_columns: Sequence[str]) -> tuple[Any, ...]:
    """A row's id values, in the order of ``id_columns`` (a sample's key in a dict)."""
    return tuple(row[c] for c in id_columns)


def _typed(value: Any, kind: pa.DataType) -> Any:
    """A value given as text (the command line's) for an integer id, as an integer."""
    if pa.types.is_integer(kind) and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def sample_keys(
    key: object, ids: SampleIds, id_columns: Sequence[str], id_types: Mapping[str, pa.DataType]
) -> pa.Table:
    """The samples ``ids`` names, as a table of exactly the id columns, checked and typed.

    Raises:
        MissingIdColumnError: A sample lacks an id column.
        UndeclaredColumnError: A sample names a column that is no id column.
        NullIdError: An id value is null.
        ColumnTypeError: An id value cannot be the column's type.
    """
    records = sample_records(ids, id_columns)
    for record in records:
        extra = sorted(set(record) - set(id_columns))
        if extra:
            raise UndeclaredColumnError(
                f"feature {key}: {extra} are not id columns (its id columns: {list(id_columns)})"
            )
        missing = [c for c in id_columns if c not in record]
        if missing:
            raise MissingIdColumnError(f"feature {key}: a sample lacks id column(s) {missing}")
    columns = {
        c: [_typed(r[c], id_types[c]) if c in id_types else r[c] for r in records]
        for c in id_columns
    }
    table = pa.table(columns) if records else pa.table({c: pa.array([]) for c in id_columns})
    return check_ids(key, table, id_columns, id_types).select(list(id_columns))


def sample_filter(keys: pa.Table) -> nw.Expr:
    """An expression that holds for exactly the samples of ``keys`` (none when empty)."""
    names = keys.column_names
    if len(names) == 1 or keys.num_rows == 0:
        return nw.col(names[0]).is_in(keys.column(0).to_pylist())
    return nw.any_horizontal(
        *(
            nw.all_horizontal(*(nw.col(c) == v for c, v in row.items()), ignore_nulls=False)
            for row in keys.to_pylist()
        ),
        ignore_nulls=False,
    )
