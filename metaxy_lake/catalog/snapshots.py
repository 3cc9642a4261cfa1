"""Graph snapshots as rows of the catalog table (docs/on-disk-format.md, section 8).

One row per (snapshot version, feature); the ``spec`` column holds the feature's recorded
definition as JSON, from which ``GraphSnapshot`` is rebuilt without the code. The other
columns repeat what another engine would query (versions, code versions, dependencies).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from metaxy_lake.errors import DamagedMetadataError, TableContractError
from metaxy_lake.graph.diff import GraphDiff
from metaxy_lake.graph.snapshot import FeatureSnapshot, GraphSnapshot
from metaxy_lake.schema import (
    FORMAT_VERSION,
    PROP_FORMAT_VERSION,
    STRING_MAP,
    TIMESTAMP,
    check_format_version,
)

SNAPSHOTS_TABLE = "_snapshots"
"""The table's name (Iceberg: ``<namespace>._snapshots``; no feature key starts with ``_``)."""
SNAPSHOTS_DIR = "_catalog/snapshots"
PROP_TABLE = "metaxy.table"
DEFAULT_PROJECT = "default"

SNAPSHOT_SCHEMA = pa.schema(
    [
        ("project", pa.string()),
        ("snapshot_version", pa.string()),
        ("feature_key", pa.string()),
        ("feature_version", pa.string()),
        ("field_versions", STRING_MAP),
        ("code_versions", STRING_MAP),
        ("dependencies", pa.list_(pa.string())),
        ("spec", pa.string()),
        ("recorded_at", TIMESTAMP),
        ("git_commit", pa.string()),
        ("message", pa.string()),
        ("tags", STRING_MAP),
    ]
)
SNAPSHOT_PROPERTIES = {PROP_FORMAT_VERSION: str(FORMAT_VERSION), PROP_TABLE: "snapshots"}


@dataclass(frozen=True)
class SnapshotRecord:
    """One recording of a snapshot, as ``graph_history`` lists it."""

    version: str
    recorded_at: dt.datetime
    features: int
    git_commit: str | None = None
    message: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PushResult:
    """What ``push_graph`` did.

    Attributes:
        snapshot_version: The snapshot version of the graph pushed.
        new: Whether it was recorded now (False: it was the latest snapshot already).
        diff: The changes from the previous latest snapshot (from nothing for the first).
    """

    snapshot_version: str
    new: bool
    diff: GraphDiff


def snapshot_rows(
    snapshot: GraphSnapshot,
    project: str,
    recorded_at: dt.datetime,
    git_commit: str | None,
    message: str | None,
    tags: Mapping[str, str] | None,
) -> pa.Table:
    """The rows recording ``snapshot``: one per feature."""
    features = list(snapshot.features.values())
    n = len(features)
    return pa.table(
        {
            "project": [project] * n,
            "snapshot_version": [snapshot.version] * n,
            "feature_key": [f.key for f in features],
            "feature_version": [f.version for f in features],
            "field_versions": [list(f.field_versions.items()) for f in features],
            "code_versions": [list(f.code_versions.items()) for f in features],
            "dependencies": [f.dependencies for f in features],
            "spec": [json.dumps(f.to_json(), sort_keys=True) for f in features],
            "recorded_at": [recorded_at] * n,
            "git_commit": [git_commit] * n,
            "message": [message] * n,
            "tags": [list((tags or {}).items())] * n,
        },
        schema=SNAPSHOT_SCHEMA,
    )


def check_snapshot_table(schema: pa.Schema, properties: Mapping[str, str], where: str) -> None:
    """Refuse a table that is not a snapshots table of a format version this library reads.

    Raises:
        TableContractError: Another kind of table, a newer format version, or missing columns.
    """
    check_format_version(properties, where)
    if properties.get(PROP_TABLE) != "snapshots":
        raise TableContractError(f"{where} is not a snapshots table ({dict(properties)})")
    missing = [n for n in SNAPSHOT_SCHEMA.names if n not in schema.names]
    if missing:
        raise TableContractError(f"{where} lacks snapshot column(s) {missing}")


def _feature(row: Mapping[str, object], version: str, where: str) -> FeatureSnapshot:
    """The feature one row records.

    Raises:
        DamagedMetadataError: Its spec is no recorded definition (not JSON, or cut short).
    """
    try:
        return FeatureSnapshot.from_json(json.loads(str(row["spec"])))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DamagedMetadataError(
            f"{where}: the row recording feature {row['feature_key']} in snapshot {version} "
            f"(recorded {row['recorded_at']}) is damaged, its spec is no recorded definition "
            f"({type(exc).__name__}: {exc}); readers skip that snapshot, `mxl doctor` lists "
            "damaged rows, and pushing the graph again records it whole",
            where,
        ) from exc


def snapshot_from_rows(version: str, rows: list[dict[str, object]], where: str) -> GraphSnapshot:
    """The snapshot recorded by ``rows`` (the rows of one recording of ``version``).

    Args:
        version: The snapshot version.
        rows: The recording's rows.
        where: The snapshots table's URI (errors name it).

    Raises:
        DamagedMetadataError: A row's spec is no recorded definition.
    """
    features = [_feature(r, version, where) for r in rows]
    return GraphSnapshot(version, {f.key: f for f in sorted(features, key=lambda f: f.key)})
