"""The on-disk contract: system columns, table properties, commit metadata, table schemas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from metaxy_lake.errors import UnsupportedFormatVersionError

FORMAT_VERSION = 1
"""Major version of the on-disk contract this library writes and reads."""

PROP_FORMAT_VERSION = "metaxy.format_version"
PROP_HASH_ALGORITHM = "metaxy.hash_algorithm"
PROP_HASH_LENGTH = "metaxy.hash_length"
PROP_FEATURE_KEY = "metaxy.feature_key"
PROP_TABLE_ID = "metaxy.table_id"
"""A random id given at creation: a table deleted and created again is another table."""

COMMIT_WRITE_ID = "metaxy.write_id"
COMMIT_OPERATION = "metaxy.operation"
COMMIT_FEATURE_VERSION = "metaxy.feature_version"
COMMIT_SNAPSHOT_VERSION = "metaxy.snapshot_version"
COMMIT_ROWS = "metaxy.rows"
COMMIT_WRITER = "metaxy.writer"
COMMIT_CREATED_AT = "metaxy.created_at"
"""The ``metaxy_created_at`` a commit stamped (ISO 8601 UTC, microseconds): the next
writers stamp after it (docs/on-disk-format.md, section 5)."""

DEFAULT_PROJECT = "default"
"""The project of a store's graph snapshots unless the store or the configuration names one."""

COMMIT_PREFIX = "metaxy."
APPEND_OPERATIONS = frozenset({"write", "delete", "expire"})
"""The commits that only add rows: writes and soft deletes (hard deletes rewrite), and the
properties an expiry sets (Delta's log retention): a checkpoint stays usable past them."""

SYSTEM_PREFIX = "metaxy_"
PROVENANCE_BY_FIELD = "metaxy_provenance_by_field"
PROVENANCE = "metaxy_provenance"
DATA_VERSION_BY_FIELD = "metaxy_data_version_by_field"
DATA_VERSION = "metaxy_data_version"
UPSTREAM = "metaxy_upstream"
FEATURE_VERSION = "metaxy_feature_version"
SNAPSHOT_VERSION = "metaxy_snapshot_version"
CREATED_AT = "metaxy_created_at"
DELETED_AT = "metaxy_deleted_at"
WRITE_ID = "metaxy_write_id"
CHANGED_FIELDS = "metaxy_changed_fields"
"""Increment-only column on stale rows: the fields whose provenance differs."""
STATUS = "metaxy_status"
"""Increment-only column of ``Increment.todo``: ``new`` or ``stale``."""
BATCH = "metaxy_batch"
"""Increment-only column of a sharded read (``metaxy_lake.ray``): the increment's id, the
shard and the block within it, ``<increment id>/<i>-<n>/<block>``."""
INCREMENT_COLUMNS = frozenset({CHANGED_FIELDS, STATUS, BATCH})
"""The columns an increment adds that ``write`` drops."""
STORE = "metaxy_store"
"""Added by ``read(..., with_store=True)``: the store of a fallback chain a row came from."""

STRING_MAP = pa.map_(pa.string(), pa.string())
TIMESTAMP = pa.timestamp("us", tz="UTC")

SYSTEM_SCHEMA = pa.schema(
    [
        (PROVENANCE_BY_FIELD, STRING_MAP),
        (PROVENANCE, pa.string()),
        (DATA_VERSION_BY_FIELD, STRING_MAP),
        (DATA_VERSION, pa.string()),
        (UPSTREAM, STRING_MAP),
        (FEATURE_VERSION, pa.string()),
        (SNAPSHOT_VERSION, pa.string()),
        (CREATED_AT, TIMESTAMP),
        (DELETED_AT, TIMESTAMP),
        (WRITE_ID, pa.string()),
    ]
)
SYSTEM_COLUMNS: tuple[str, ...] = tuple(SYSTEM_SCHEMA.names)

INCREMENT_SYSTEM_COLUMNS: tuple[str, ...] = (
    PROVENANCE_BY_FIELD,
    PROVENANCE,
    DATA_VERSION_BY_FIELD,
    DATA_VERSION,
    UPSTREAM,
)
"""System columns an increment carries and ``write`` keeps (the rest ``write`` stamps)."""

HASHES: tuple[str, ...] = (PROVENANCE, DATA_VERSION)
"""System columns whose values are hashes, unique per sample."""


def check_format_version(properties: Mapping[str, str], where: str) -> None:
    """Refuse a table written by a newer major version of the on-disk contract.

    Raises:
        UnsupportedFormatVersionError: Both versions are named.
    """
    version = properties.get(PROP_FORMAT_VERSION)
    if version is not None and int(version.split(".")[0]) > FORMAT_VERSION:
        raise UnsupportedFormatVersionError(
            f"table {where} has metaxy.format_version {version}; this metaxy_lake reads "
            f"up to {FORMAT_VERSION}: upgrade metaxy_lake"
        )


DEFAULT_ID_TYPE = pa.string()
"""The stored type of an id column whose type nothing has fixed yet."""


def is_id_type(type_: pa.DataType) -> bool:
    """Whether an Arrow type may identify samples (a string or an integer type)."""
    return bool(
        pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_integer(type_)
    )


def canonical_id_type(type_: pa.DataType) -> pa.DataType:
    """Return the stored type of an id column first written with ``type_``."""
    return pa.int64() if pa.types.is_integer(type_) else pa.string()


def table_schema(
    id_columns: Sequence[str],
    id_types: Mapping[str, pa.DataType],
    user_columns: Mapping[str, pa.DataType],
) -> pa.Schema:
    """Return the full table schema: id columns, user columns, then system columns."""
    fields = [pa.field(c, id_types.get(c, DEFAULT_ID_TYPE)) for c in id_columns]
    fields += [pa.field(n, t) for n, t in user_columns.items() if n not in id_columns]
    return pa.schema(fields + list(SYSTEM_SCHEMA))
