"""Commit metadata, written atomically with the data in the format's own commit properties.

A feature's history is read back from its table's history, so it can never disagree with
the data.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from metaxy_lake.formats import CommitRecord
from metaxy_lake.schema import (
    COMMIT_CREATED_AT,
    COMMIT_FEATURE_VERSION,
    COMMIT_OPERATION,
    COMMIT_ROWS,
    COMMIT_SNAPSHOT_VERSION,
    COMMIT_WRITE_ID,
    COMMIT_WRITER,
)


def _writer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class CommitInfo:
    """What metaxy_lake records with one commit."""

    write_id: str
    operation: str
    feature_version: str | None
    snapshot_version: str
    rows: int
    writer: str = field(default_factory=_writer)
    created_at: dt.datetime | None = None
    """The time the commit stamps on its rows (None: not recorded, as by the catalog)."""

    def to_metadata(self) -> dict[str, str]:
        """The commit properties handed to the format (no feature version for the catalog)."""
        metadata = {
            COMMIT_WRITE_ID: self.write_id,
            COMMIT_OPERATION: self.operation,
            COMMIT_SNAPSHOT_VERSION: self.snapshot_version,
            COMMIT_ROWS: str(self.rows),
            COMMIT_WRITER: self.writer,
        }
        if self.feature_version is not None:
            metadata[COMMIT_FEATURE_VERSION] = self.feature_version
        if self.created_at is not None:
            stamp = self.created_at.astimezone(dt.UTC)
            metadata[COMMIT_CREATED_AT] = stamp.isoformat(timespec="microseconds")
        return metadata


def newest_stamp(records: Iterable[CommitRecord]) -> dt.datetime | None:
    """The newest time stamped by ``records``: what the next write must stamp after.

    A commit's recorded ``metaxy.created_at``; for a commit without one (made before the
    key existed, or by maintenance that records no metadata) its own timestamp, which
    its writer's clock gave after stamping its rows (so does a value that is not a time:
    one damaged commit must not block every write).
    """
    return max((_stamped(r) for r in records), default=None)


def _stamped(record: CommitRecord) -> dt.datetime:
    try:
        recorded = dt.datetime.fromisoformat(record.metadata[COMMIT_CREATED_AT])
    except (KeyError, ValueError):
        return record.timestamp
    return recorded if recorded.tzinfo is not None else record.timestamp


@dataclass(frozen=True)
class Commit:
    """One commit of a feature table, as ``LakeStore.history`` lists it.

    Attributes:
        version: The table version the commit made.
        timestamp: When it was committed.
        operation: ``write``, ``delete``, ``hard_delete``, ``create``, or the format's own
            name for commits metaxy_lake did not make.
        rows: Rows added or removed, where the format says.
        write_id: The write id, for commits metaxy_lake made.
        snapshot_version: The graph snapshot the writer ran under.
        feature_version: The feature version at write.
        metadata: Every ``metaxy.*`` property of the commit.
        store: The store of the table (its name, or its root), as ``history`` lists it.
    """

    version: int
    timestamp: dt.datetime
    operation: str
    rows: int | None
    write_id: str | None
    snapshot_version: str | None
    feature_version: str | None
    metadata: Mapping[str, str] = field(default_factory=dict)
    store: str | None = None


def commits_from_history(records: Iterable[CommitRecord]) -> list[Commit]:
    """Turn a format's history into commits (newest first)."""
    out = []
    for record in records:
        meta = record.metadata
        rows = meta.get(COMMIT_ROWS)
        out.append(
            Commit(
                version=record.version,
                timestamp=record.timestamp,
                operation=meta.get(COMMIT_OPERATION, record.operation),
                rows=int(rows) if rows is not None else record.rows,
                write_id=meta.get(COMMIT_WRITE_ID),
                snapshot_version=meta.get(COMMIT_SNAPSHOT_VERSION),
                feature_version=meta.get(COMMIT_FEATURE_VERSION),
                metadata=dict(meta),
            )
        )
    return out
