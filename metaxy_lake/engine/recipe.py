"""The record-level hash recipe (docs/design.md, Hash recipe) as DuckDB SQL expressions.

One place builds every record hash, for writes and increments alike:

- field provenance = hash(field key | code version | for each upstream field, in sorted
  order of fq key: fq key | the upstream row's data version of that field);
- sample provenance (and sample data version) = hash of the per-field values joined by
  ``|`` in bytewise order of field key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from metaxy_lake.engine.hashing import hash_sql
from metaxy_lake.engine.sql import ident, join_with_bar, lit
from metaxy_lake.graph.definition import FeatureDefinition, ResolvedField
from metaxy_lake.graph.keys import FeatureKey, FieldKey, fq_field_key

MISSING_UPSTREAM = "metaxy_lake: missing upstream data version: "
"""Prefix of the DuckDB error raised when a required upstream value is NULL."""


@dataclass(frozen=True)
class HashSettings:
    """The record hash algorithm and length of a store (recorded in every table)."""

    algorithm: str
    length: int

    def hash(self, expr: str) -> str:
        """SQL hashing a VARCHAR expression."""
        return hash_sql(expr, self.algorithm, self.length)


def ids_text(id_columns: Sequence[str]) -> str:
    """SQL rendering a sample's ids as text, for error messages."""
    parts = ", ".join(f"{lit(c)}: {ident(c)}" for c in id_columns)
    return f"CAST({{{parts}}} AS VARCHAR)"


def field_provenance(
    definition: FeatureDefinition,
    field: ResolvedField,
    upstream_value: Callable[[FeatureKey, FieldKey], str],
    settings: HashSettings,
) -> str:
    """SQL for one field's provenance; raises in DuckDB when an upstream value is NULL.

    Args:
        definition: The feature.
        field: One of its fields.
        upstream_value: SQL for the upstream data version of (feature, field).
        settings: Hash settings.
    """
    parts = [lit(str(field.key)), lit(field.code_version)]
    for up_key, up_field in field.deps:  # sorted by fq key at definition time
        parts += [lit(fq_field_key(up_key, up_field)), upstream_value(up_key, up_field)]
    text = join_with_bar(parts)
    if not field.deps:
        return settings.hash(text)
    needs = ", ".join(fq_field_key(*d) for d in field.deps)
    message = lit(f"{MISSING_UPSTREAM}feature {definition.key} field {field.key} needs {needs}; ")
    return (
        f"CASE WHEN ({text}) IS NULL "
        f"THEN error({message} || 'sample ' || {ids_text(definition.join_columns)}) "
        f"ELSE {settings.hash(text)} END"
    )


def sample_hash(values_by_field: Mapping[str, str], settings: HashSettings) -> str:
    """SQL hashing per-field values joined by ``|`` in bytewise field key order."""
    return settings.hash(join_with_bar(values_by_field[k] for k in sorted(values_by_field)))


def group_hash(value: str, order: str, settings: HashSettings) -> str:
    """SQL aggregate: a group's values joined by ``|`` in ``order``, hashed (aggregation).

    NULL when a member's value is NULL, so that a required value stays required.
    """
    joined = f"string_agg({value}, {lit('|')} ORDER BY {order})"
    return f"CASE WHEN count(*) = count({value}) THEN {settings.hash(joined)} END"


def map_value(column: str, key: str) -> str:
    """SQL for one entry of a ``MAP(VARCHAR, VARCHAR)`` column."""
    return f"{ident(column)}[{lit(key)}]"
