"""System columns that ``write`` and ``delete`` stamp on rows, computed by DuckDB."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from metaxy_lake.definition import FeatureDefinition
from metaxy_lake.engine.recipe import HashSettings, map_value, sample_hash
from metaxy_lake.engine.relations import SRC, Relation, query
from metaxy_lake.engine.sql import ident, lit, string_map
from metaxy_lake.schema import (
    CREATED_AT,
    DATA_VERSION,
    DATA_VERSION_BY_FIELD,
    DELETED_AT,
    FEATURE_VERSION,
    PROVENANCE,
    PROVENANCE_BY_FIELD,
    SNAPSHOT_VERSION,
    UPSTREAM,
    WRITE_ID,
)

_PROVENANCE = "_mxl_provenance"


@dataclass(frozen=True)
class Stamp:
    """What one commit stamps on every row it writes."""

    feature_version: str
    snapshot_version: str
    created_at: dt.datetime
    write_id: str

    def columns(self, deleted: bool) -> list[str]:
        """SQL select items for the stamped columns."""
        at = f"CAST({lit(self.created_at.isoformat())} AS TIMESTAMPTZ)"
        return [
            f"{lit(self.feature_version)} AS {ident(FEATURE_VERSION)}",
            f"{lit(self.snapshot_version)} AS {ident(SNAPSHOT_VERSION)}",
            f"{at} AS {ident(CREATED_AT)}",
            f"{at if deleted else 'CAST(NULL AS TIMESTAMPTZ)'} AS {ident(DELETED_AT)}",
            f"{lit(self.write_id)} AS {ident(WRITE_ID)}",
        ]


def stamp_rows(
    definition: FeatureDefinition,
    data: Relation,
    settings: HashSettings,
    stamp: Stamp,
    schema: pa.Schema,
) -> pa.Table:
    """Return ``data`` with every system column filled, in the table's schema.

    ``data`` is validated: id and user columns of the declared types,
    ``metaxy_provenance_by_field`` as a string map with the declared keys; for non-roots
    also ``metaxy_provenance`` and ``metaxy_upstream``; optionally a partial
    ``metaxy_data_version_by_field`` override.
    """
    fields = definition.field_names
    has_override = DATA_VERSION_BY_FIELD in data.columns
    data_versions = {
        f: (
            f"coalesce({map_value(DATA_VERSION_BY_FIELD, f)}, {map_value(PROVENANCE_BY_FIELD, f)})"
            if has_override
            else map_value(PROVENANCE_BY_FIELD, f)
        )
        for f in fields
    }
    if definition.is_root:
        provenance = sample_hash({f: map_value(PROVENANCE_BY_FIELD, f) for f in fields}, settings)
        upstream = string_map([], [])
    else:
        provenance, upstream = ident(PROVENANCE), ident(UPSTREAM)
    if has_override:
        by_field = string_map(fields, data_versions.values())
        data_version = sample_hash(data_versions, settings)
    else:  # the data versions are the provenance: reuse its map (and a root's hash)
        by_field = ident(PROVENANCE_BY_FIELD)
        data_version = _PROVENANCE if definition.is_root else sample_hash(data_versions, settings)
    user = [n for n in schema.names if n in data.columns and not n.startswith("metaxy_")]
    items = [ident(c) for c in user] + [
        ident(PROVENANCE_BY_FIELD),
        f"{_PROVENANCE} AS {ident(PROVENANCE)}",
        f"{by_field} AS {ident(DATA_VERSION_BY_FIELD)}",
        f"{data_version} AS {ident(DATA_VERSION)}",
        f"{upstream} AS {ident(UPSTREAM)}",
        *stamp.columns(deleted=False),
    ]
    hashed = data.project(f"*, {provenance} AS {_PROVENANCE}")
    out = query(hashed, f"SELECT {', '.join(items)} FROM {SRC}")
    return conform(out.to_arrow_table(), schema)


def tombstones(live: Relation, schema: pa.Schema, id_columns: list[str], stamp: Stamp) -> pa.Table:
    """Soft-delete rows for the given live rows: ids and provenance kept, user columns null."""
    kept = (PROVENANCE_BY_FIELD, PROVENANCE, DATA_VERSION_BY_FIELD, DATA_VERSION, UPSTREAM)
    items = [ident(c) for c in id_columns] + [ident(c) for c in kept]
    items += stamp.columns(deleted=True)
    return conform(live.project(", ".join(items)).to_arrow_table(), schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Order and cast columns to ``schema``; absent columns become nulls."""
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
