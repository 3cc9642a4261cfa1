"""Checks that a lake table satisfies the on-disk contract before it is read or written."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pyarrow as pa

from metaxy_lake.arrowtypes import equivalent
from metaxy_lake.engine.recipe import HashSettings
from metaxy_lake.errors import (
    HashSettingsMismatchError,
    SchemaEvolutionError,
    TableContractError,
)
from metaxy_lake.formats import LakeTable
from metaxy_lake.graph.definition import FeatureDefinition
from metaxy_lake.schema import (
    FORMAT_VERSION,
    PROP_FEATURE_KEY,
    PROP_FORMAT_VERSION,
    PROP_HASH_ALGORITHM,
    PROP_HASH_LENGTH,
    PROP_TABLE_ID,
    SYSTEM_SCHEMA,
    check_format_version,
)


def table_properties(definition: FeatureDefinition, settings: HashSettings) -> dict[str, str]:
    """The ``metaxy.*`` properties a new feature table is created with."""
    return {
        PROP_FORMAT_VERSION: str(FORMAT_VERSION),
        PROP_HASH_ALGORITHM: settings.algorithm,
        PROP_HASH_LENGTH: str(settings.length),
        PROP_FEATURE_KEY: str(definition.key),
        PROP_TABLE_ID: str(uuid.uuid4()),
    }


def check_table(table: LakeTable, settings: HashSettings) -> None:
    """Refuse a table from a newer format version, with other hash settings, or no system columns.

    Raises:
        UnsupportedFormatVersionError: Written by a newer major version (both are named).
        HashSettingsMismatchError: Another algorithm or length (both are named).
        TableContractError: A system column is missing.
    """
    props: Mapping[str, str] = table.properties
    check_format_version(props, table.ref.uri)
    algorithm = props.get(PROP_HASH_ALGORITHM)
    length = props.get(PROP_HASH_LENGTH)
    if (algorithm, length) != (settings.algorithm, str(settings.length)):
        raise HashSettingsMismatchError(
            f"table {table.ref.uri} was written with hash {algorithm} length {length}; this store "
            f"uses {settings.algorithm} length {settings.length}"
        )
    names = set(table.schema.names)
    for field in SYSTEM_SCHEMA:
        if field.name not in names:
            raise TableContractError(f"table {table.ref.uri} lacks system column {field.name!r}")


def stored_id_types(
    table: LakeTable | None, definition: FeatureDefinition
) -> dict[str, pa.DataType]:
    """Id column types: the table's where it exists, else the model's annotations."""
    if table is None:
        return dict(definition.id_types)
    return {c: table.schema.field(c).type for c in definition.id_columns}


def columns_to_add(table: LakeTable, definition: FeatureDefinition) -> list[pa.Field]:
    """User columns the feature declares that the table lacks (schema evolution).

    Raises:
        SchemaEvolutionError: The table holds a user column the feature no longer declares,
            or one whose type changed; the message says how to migrate.
    """
    schema = table.schema
    declared = definition.user_columns
    system = set(SYSTEM_SCHEMA.names) | set(definition.id_columns)
    for field in schema:
        if field.name in system:
            continue
        if field.name not in declared:
            raise SchemaEvolutionError(
                f"feature {definition.key}: table {table.ref.uri} has column {field.name!r} "
                f"({field.type}) that the feature no longer declares; append-only tables keep "
                "their columns: declare it again (Optional if it is no longer filled), or "
                "write the feature under a new key and copy the rows you need"
            )
        if not equivalent(field.type, declared[field.name]):
            raise SchemaEvolutionError(
                f"feature {definition.key}: column {field.name!r} is stored as {field.type} "
                f"but declared as {declared[field.name]}; to change a type, add a new column "
                "and stop filling the old one, or write the feature under a new key"
            )
    return [pa.field(n, t) for n, t in declared.items() if n not in schema.names]
