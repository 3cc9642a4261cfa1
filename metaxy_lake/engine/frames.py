"""Checks of a frame's system columns, run in DuckDB before anything is written.

The frame is read into DuckDB once, into a temporary table of the caller's own session;
its maps cross as pairs of key and value lists (``engine.maps``). Each failure raises an
error named for what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from metaxy_lake.engine.maps import pair, pair_items, split
from metaxy_lake.engine.relations import SRC, Relation, materialize, query
from metaxy_lake.engine.sql import ident, idents, lit, string_list
from metaxy_lake.errors import (
    AmbiguousProvenanceError,
    ColumnTypeError,
    DuplicateSampleError,
    MissingProvenanceError,
    ProvenanceKeysError,
)
from metaxy_lake.graph import FeatureDefinition
from metaxy_lake.schema import (
    DATA_VERSION_BY_FIELD,
    PROVENANCE,
    PROVENANCE_BY_FIELD,
    UPSTREAM,
)

_FRAME = "_mxl_frame"
_MAP_COLUMNS = (PROVENANCE_BY_FIELD, DATA_VERSION_BY_FIELD, UPSTREAM)


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
            what = "dependencies" if column == UPSTREAM else "fields"
            raise ProvenanceKeysError(f"feature {key}: {column} names undeclared {what} {unknown}")
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


def _holds_bar(values: str) -> str:
    """SQL: some value of a list of map values contains ``|`` (nulls hold none)."""
    return f"contains(array_to_string({values}, ''), '|')"


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
    ``metaxy_data_version_by_field`` names only declared fields; no value of either map
    contains ``|`` (the hash recipe joins them with it, unescaped); ``metaxy_provenance``
    is non-null.
    """
    key, fields = definition.key, definition.field_names
    selected: dict[str, list[str]] = {c: [ident(c)] for c in table.column_names}
    maps = [c for c in _MAP_COLUMNS if c in table.column_names]
    deps = tuple(sorted(str(d.key) for d in definition.deps))
    for column in maps:
        selected[column] = _pair_items(table, column, deps if column == UPSTREAM else fields, key)
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
        "bar": _holds_bar(pbf_values),
    }
    if DATA_VERSION_BY_FIELD in table.column_names:
        dv_keys, dv_values = (ident(name) for name in pair(DATA_VERSION_BY_FIELD))
        checks["bad_override"] = f"NOT list_has_all({string_list(fields)}, coalesce({dv_keys}, []))"
        checks["bar_override"] = _holds_bar(dv_values)
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
        if name in ("bar", "bar_override"):
            column = PROVENANCE_BY_FIELD if name == "bar" else DATA_VERSION_BY_FIELD
            raise AmbiguousProvenanceError(
                f"feature {key}: {count} row(s) have a {column} value containing '|', e.g. "
                f"sample {example}; the hash recipe joins these values with '|' unescaped, so "
                "two different maps could hash alike and downstream would not be recomputed "
                "(docs/on-disk-format.md, section 6): encode the value (e.g. as hex)"
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
