"""Delta Lake tables through delta-rs (the ``deltalake`` package): the default format."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Field
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction
from pyarrow import fs

from metaxy_lake.errors import CommitStateUnknownError, DamagedMetadataError, TimeTravelError
from metaxy_lake.formats import delta_log
from metaxy_lake.formats.base import (
    AsOf,
    Capabilities,
    CommitRecord,
    DatasetScan,
    LakeTable,
    ParquetScan,
    ScanSource,
    TableFormat,
    TableRef,
    arrow_schema,
    retry_vanished,
)
from metaxy_lake.formats.outcomes import transport_failure
from metaxy_lake.schema import COMMIT_OPERATION, COMMIT_PREFIX, HASHES
from metaxy_lake.storage import StorageConfig, object_store_options, pyarrow_filesystem

ROW_GROUP_ROWS = 128 * 1024
"""Bounded row groups let row-group statistics prune scans."""

MAX_COMMIT_RETRIES = 100
"""delta-rs gives up after 15 conflicting commits by default; appends never conflict."""

VACUUM_SLACK_S = 60
"""Seconds the vacuum window may fall short of ``older_than`` before it takes one more hour.

delta-rs vacuums by whole hours; rounding up keeps files at least as long as the log
entries that reference them. The slack keeps ``older_than=0`` at zero hours: the time
between the caller's cutoff and the vacuum is not a reason to keep an hour of files.
"""

_UNSAFE_READER_FEATURES = {"deletionVectors", "columnMapping"}
_LOG_ENTRY = re.compile(r"^(\d{20})\.")
"""A log entry, checkpoint or checksum of one version (``_delta_log/<version>.*``)."""
_EXPIRED_LOG = "Invalid table version"
"""What a commit raises when expiry removed the log entry of the version it read."""


def _vanished(exc: Exception) -> bool:
    """Whether expiry removed a log entry or checkpoint that a load had listed.

    Measured while ``expire(older_than=0)`` runs: "File not found: .../_delta_log/N.json"
    and "Object at location .../_delta_log/N.checkpoint.parquet not found".
    """
    text = str(exc)
    return (
        isinstance(exc, DeltaError | OSError)
        and "_delta_log/" in text
        and ("not found" in text.lower())
    )


def _load(uri: str, options: dict[str, str] | None, version: int | None = None) -> DeltaTable:
    """The table at ``uri`` (as of ``version`` when given)."""
    return retry_vanished(
        lambda: DeltaTable(uri, version=version, storage_options=options), _vanished
    )


def _log(table: DeltaTable, limit: int | None = None) -> list[dict[str, Any]]:
    """The commit infos of the newest log entries, newest first."""
    return retry_vanished(lambda: table.history(limit), _vanished)


def _encoded(schema: pa.Schema) -> list[str]:
    """Columns worth dictionaries and statistics: top-level scalars but the hashes.

    The hashes are unique per row, so a dictionary only costs time and statistics prune
    nothing; nested columns (the provenance maps among them) are not pruned on either.
    Skipping both cuts Parquet encoding of a root's rows by a fifth.
    """
    return [f.name for f in schema if not pa.types.is_nested(f.type) and f.name not in HASHES]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _commit(metadata: Mapping[str, str], retries: int = MAX_COMMIT_RETRIES) -> CommitProperties:
    return CommitProperties(custom_metadata=dict(metadata), max_commit_retries=retries)


def _version_at(table: DeltaTable, as_of: AsOf) -> int:
    """The version to load: ``as_of`` itself, or the latest commit at or before a time.

    Commit timestamps (those ``history()`` reports) decide, not the log files'
    modification times that delta-rs would use (coarse on some object stores).
    """
    if isinstance(as_of, int):
        return as_of
    limit = as_of.timestamp() * 1000
    versions = [int(h["version"]) for h in _log(table) if h["timestamp"] <= limit]
    if not versions:
        raise ValueError("the table's first commit is later")
    return max(versions)


def _history(table: DeltaTable, limit: int | None) -> list[CommitRecord]:
    """A Delta table's commits newest first, with the custom metadata of each."""
    records = []
    for entry in _log(table, limit):
        metrics = entry.get("operationMetrics") or {}
        rows = metrics.get("num_added_rows", metrics.get("num_target_rows_deleted"))
        records.append(
            CommitRecord(
                version=int(entry["version"]),
                timestamp=dt.datetime.fromtimestamp(entry["timestamp"] / 1000, dt.UTC),
                operation=str(entry.get("operation", "")),
                rows=None if rows is None else int(rows),
                metadata={k: str(v) for k, v in entry.items() if k.startswith(COMMIT_PREFIX)},
            )
        )
    return records


class DeltaLakeTable(LakeTable):
    """A Delta table opened at one version."""

    def __init__(
        self,
        ref: TableRef,
        table: DeltaTable,
        options: dict[str, str] | None,
        storage: StorageConfig,
    ) -> None:
        self.ref = ref
        self._table = table
        self._options = options
        self._storage = storage

    @property
    def version(self) -> int:
        """The Delta version (from 0)."""
        return int(self._table.version())

    @property
    def schema(self) -> pa.Schema:
        """The table's Arrow schema."""
        return arrow_schema(pa.schema(self._table.schema().to_arrow()))

    @property
    def properties(self) -> Mapping[str, str]:
        """The Delta configuration."""
        return dict(self._table.metadata().configuration)

    @property
    def identity(self) -> str:
        """The id Delta gives a table at creation (its metadata id)."""
        return str(self._table.metadata().id)

    def _plain_files(self) -> bool:
        """Whether the data files can be read as they are.

        Not with deletion vectors, column mapping or partition columns (whose values are
        not in the files).
        """
        features = set(self._table.protocol().reader_features or ())
        return not (features & _UNSAFE_READER_FEATURES or self._table.metadata().partition_columns)

    def scan(self) -> ScanSource:
        """Parquet files where they can be read as they are, else an Arrow dataset."""
        if not self._plain_files():
            return DatasetScan(self._table.to_pyarrow_dataset(), self.schema)
        return ParquetScan(tuple(self._table.file_uris()), self.schema)

    def _files(self, version: int | None) -> dict[str, int] | None:
        """Each data file's URI and rows (None where a file lacks its row count)."""
        if version is None:
            return {}
        if not self._plain_files():
            return None
        table = self._table
        if version != self.version:
            table = _load(self.ref.uri, self._options, version)
        uris = table.file_uris()
        rows = pa.table(table.get_add_actions(flatten=True)).column("num_records").to_pylist()
        if len(uris) != len(rows) or any(n is None for n in rows):
            return None  # both list the same snapshot, in one order
        return dict(zip(uris, rows, strict=True))

    def _scan_files(self, files: Sequence[str], columns: Sequence[str]) -> ScanSource:
        return ParquetScan(tuple(files), self.schema)

    def file_count(self) -> int:
        """Data files of this version."""
        return len(self._table.file_uris())

    def _reload(self) -> None:
        self._table = _load(self.ref.uri, self._options)

    def _made(self, metadata: Mapping[str, str]) -> int:
        """The version the commit just made (delta-rs does not return it)."""
        self._reload()
        return self._committed_version(metadata, self.version)

    def stage(self, data: pa.Table) -> list[AddAction]:
        """Write Parquet data files that no commit references yet, one per core in parallel.

        Every file holds at least one full row group.
        """
        filesystem, base = pyarrow_filesystem(self.ref.uri, self._storage)
        files = max(1, min(os.cpu_count() or 1, math.ceil(data.num_rows / ROW_GROUP_ROWS)))
        step = math.ceil(data.num_rows / files)
        encoded = _encoded(data.schema)

        def write(index: int) -> AddAction:
            part = data.slice(index * step, step)
            name = f"part-{index:05d}-{uuid.uuid4()}-c000.zstd.parquet"
            path = f"{base.rstrip('/')}/{name}"
            pq.write_table(
                part,
                path,
                filesystem=filesystem,
                compression="zstd",
                row_group_size=ROW_GROUP_ROWS,
                use_dictionary=encoded,
                write_statistics=encoded,
            )
            size = filesystem.get_file_info(path).size
            stats = json.dumps({"numRecords": part.num_rows})
            return AddAction(name, size, {}, int(time.time() * 1000), True, stats)

        if files == 1:
            return [write(0)]
        with ThreadPoolExecutor(files) as pool:  # pyarrow releases the GIL while it encodes
            return list(pool.map(write, range(files)))

    def commit(self, staged: list[AddAction], metadata: Mapping[str, str]) -> int:
        """Commit the staged files in one commit carrying ``metadata`` in its commitInfo.

        delta-rs retries plain append races itself but gives up on others (a concurrent
        table creation changes the metadata): those are retried here on a fresh snapshot.
        """

        def attempt() -> None:
            try:
                self._table.create_write_transaction(
                    list[AddAction | RemoveAction](staged),
                    mode="append",
                    schema=self._table.schema(),
                    commit_properties=_commit(metadata),
                )
            except OSError as exc:  # the log entry's PUT may have reached the server
                if transport_failure(exc):
                    raise CommitStateUnknownError(f"append to {self.ref.name}: {exc}") from exc
                raise

        self._retry(attempt, "append to")
        return self._made(metadata)

    def _is_conflict(self, exc: Exception) -> bool:
        """A concurrent commit won, or expiry removed a log entry or file this attempt read.

        A data file "not found" while the table has moved on was removed by a compaction
        and an expiry since the attempt's version (measured: a MERGE racing both); while
        it has not, the file is missing for good and the error stands.
        """
        expired = isinstance(exc, DeltaError) and _EXPIRED_LOG in str(exc)
        if isinstance(exc, CommitFailedError) or expired or _vanished(exc):
            self._reload()
            return True
        if isinstance(exc, DeltaError | OSError) and "not found" in str(exc).lower():
            read = self.version
            self._reload()
            return self.version != read
        return False

    def add_columns(self, fields: Sequence[pa.Field]) -> None:
        """Add nullable columns (a metadata-only commit)."""
        self._table.alter.add_columns([Field.from_arrow(f) for f in fields])
        self._reload()

    def delete_keys(self, keys: pa.Table, metadata: Mapping[str, str]) -> int:
        """Delete every row matching a key row, with a MERGE (values never enter SQL text)."""
        predicate = " AND ".join(f"t.{_quote(c)} = s.{_quote(c)}" for c in keys.column_names)

        def attempt() -> None:  # a compaction that removed the files it read conflicts
            (
                self._table.merge(
                    source=keys,
                    predicate=predicate,
                    source_alias="s",
                    target_alias="t",
                    commit_properties=_commit(metadata),
                )
                .when_matched_delete()
                .execute()
            )

        self._retry(attempt, "delete from")
        return self._made(metadata)

    def history(self, limit: int | None = None) -> list[CommitRecord]:
        """Commits newest first, with the custom metadata of each."""
        return _history(self._table, limit)

    def _commits_between(self, version: int) -> list[CommitRecord] | None:
        """Delta numbers versions one by one: read only the newest commits' entries.

        Read from the latest log: delta-rs's ``history(limit)`` on a table loaded at an
        older version returns the latest commits under the loaded version's numbers.
        """
        if version > self.version:
            return None
        latest = _load(self.ref.uri, self._options)
        newest = latest.version()
        found = {r.version: r for r in _history(latest, newest - version + 1)}
        # history() reads the newest log entries whatever is loaded, numbered down from the
        # loaded version: a commit landing in between would shift every number
        if _load(self.ref.uri, self._options).version() != newest:
            return None
        wanted = range(self.version, version, -1)
        if any(v not in found for v in wanted) or version not in found:
            return None
        return [found[v] for v in wanted]

    def first_commit_at(self) -> dt.datetime | None:
        """The time of version 0, while the log still holds it."""
        oldest = min(_log(self._table), key=lambda entry: int(entry["version"]))
        if int(oldest["version"]) != 0:
            return None
        return dt.datetime.fromtimestamp(oldest["timestamp"] / 1000, dt.UTC)

    def compact(self, metadata: Mapping[str, str]) -> int | None:
        """Bin-pack small files (OPTIMIZE); rows and their order of history are untouched."""

        def attempt() -> dict[str, Any]:
            return self._table.optimize.compact(commit_properties=_commit(metadata))

        if not self._retry(attempt, "compaction of").get("numFilesRemoved"):
            return None
        return self._made(metadata)

    def expire(self, older_than: dt.datetime) -> int:
        """Vacuum the files only versions before ``older_than`` read, then drop their log.

        History lists only versions whose files are all kept: files are vacuumed by whole
        hours (rounded up), and the log keeps every version from the oldest one committed
        at or after both ``older_than`` and the vacuum's own cutoff. The table's
        ``delta.logRetentionDuration`` is never changed (setting it would outlive the call:
        later automatic checkpoints would shrink history on their own).

        A data file a pending commit staged is never removed: the vacuum is delta-rs's
        "lite" one, which removes only files a commit removed (measured: an uncommitted
        file two hours old stays; the "full" vacuum would remove it).

        Returns:
            How many data files the vacuum removed.
        """

        def attempt() -> int:
            self._reload()
            age = (dt.datetime.now(dt.UTC) - older_than).total_seconds()
            hours = math.ceil(max(0.0, age - VACUUM_SLACK_S) / 3600)
            removed = self._table.vacuum(
                retention_hours=hours,
                dry_run=False,
                enforce_retention_duration=False,
                full=False,
                commit_properties=_commit({COMMIT_OPERATION: "expire"}),
            )
            vacuumed_before = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)
            self._reload()
            self._drop_log_before(self._oldest_kept(max(older_than, vacuumed_before)))
            self._table.create_checkpoint()  # later loads start from the latest version
            return len(removed)

        return self._retry(attempt, "expiry of")

    def _oldest_kept(self, cutoff: dt.datetime) -> int:
        """The oldest version committed at or after ``cutoff`` (the latest when none is)."""
        kept = [r.version for r in _history(self._table, None) if r.timestamp >= cutoff]
        return min(kept, default=self.version)

    def _drop_log_before(self, version: int) -> None:
        """Remove the log entries (and checkpoints) of every version before ``version``.

        A checkpoint at ``version`` first, so that it and every later version still load.
        delta-rs's ``cleanup_metadata`` takes no cutoff (only the table property), hence
        the removal here. Oldest first: the log never has a gap, which a concurrent load
        refuses ("Expected contiguous commit files", measured when removing newest first).
        A removal cut short leaves entries with no checkpoint before them: the next expiry
        removes them.
        """
        filesystem, base = pyarrow_filesystem(self.ref.uri, self._storage)
        entries = filesystem.get_file_info(fs.FileSelector(f"{base.rstrip('/')}/_delta_log"))
        old = sorted(
            (int(match.group(1)), entry.path)
            for entry in entries
            if (match := _LOG_ENTRY.match(entry.base_name)) and int(match.group(1)) < version
        )
        if not old:
            return
        _load(self.ref.uri, self._options, version).create_checkpoint()
        for _, path in old:
            with contextlib.suppress(FileNotFoundError):  # a concurrent expiry came first
                filesystem.delete_file(path)


def _damaged_commit(ref: TableRef, path: str, damage: str) -> DamagedMetadataError:
    return DamagedMetadataError(
        f"table {ref.uri}: its last commit {path} is damaged ({damage}); reading it would "
        "lose that commit's rows and writing would bury them, so both are refused. "
        "`mxl doctor --repair` sets the file aside: the table then reads as of the commit "
        "before, and the rows of the damaged commit must be written again",
        path,
    )


class DeltaFormat(TableFormat):
    """Delta Lake: no catalog service, commits by conditional put."""

    name = "delta"
    capabilities = Capabilities()
    unreferenced_files_kept = None  # the "lite" vacuum (see ``DeltaLakeTable.expire``)

    def _open(self, ref: TableRef, as_of: AsOf | None) -> DeltaLakeTable | None:
        """Open the latest version (or one as of a version or time), or ``None``.

        Raises:
            DamagedMetadataError: The last commit file is empty or half-written (see
                ``formats.delta_log``): the table is refused whatever version is asked.
        """
        options = object_store_options(self.root, self.storage)
        filesystem, base = self._filesystem, pyarrow_filesystem(ref.uri, self.storage)[1]
        try:
            table = _load(ref.uri, options)
        except TableNotFoundError:
            return None
        except DeltaError as exc:  # a log file delta-rs cannot parse: "Json error: ..."
            damaged = self._damaged(ref, filesystem, base) if "json" in str(exc).lower() else None
            if damaged is None:
                raise
            raise damaged from exc
        empty = delta_log.empty_commit(filesystem, base, int(table.version()))
        if empty is not None:
            raise _damaged_commit(ref, empty, "the commit file is empty (0 bytes)")
        if as_of is not None:
            try:
                table.load_as_version(_version_at(table, as_of))
            except (DeltaError, ValueError, OSError) as exc:
                raise TimeTravelError(
                    f"table {ref.uri} has no version as of {as_of} (before it existed, or "
                    f"expired): {exc}"
                ) from exc
        return DeltaLakeTable(ref, table, options, self.storage)

    @cached_property
    def _filesystem(self) -> Any:
        """The store's pyarrow filesystem, kept so that each open's HEAD reuses a connection.

        A new filesystem per open made the check cost ~9 ms on SeaweedFS instead of ~4 ms.
        """
        return pyarrow_filesystem(self.root, self.storage)[0]

    def _damaged(self, ref: TableRef, filesystem: Any, base: str) -> DamagedMetadataError | None:
        """Why delta-rs could not load the table, when its last commit file is damaged."""
        version = delta_log.latest_commit(filesystem, base)
        if version is None:
            return None
        path = delta_log.commit_path(base, version)
        damage = delta_log.commit_damage(filesystem, path)
        return None if damage is None else _damaged_commit(ref, path, damage)

    def set_aside(self, ref: TableRef, path: str) -> str | None:
        """Move a damaged last commit file aside (see ``formats.delta_log``).

        The file is checked again first: a file that is not (or no longer) the table's
        damaged last commit is left where it is (None).
        """
        filesystem, base = pyarrow_filesystem(ref.uri, self.storage)
        version = delta_log.latest_commit(filesystem, base)
        if version is None or delta_log.commit_path(base, version) != path:
            return None
        if delta_log.commit_damage(filesystem, path) is None:
            return None
        return delta_log.set_aside(filesystem, base, path)

    def _create(self, ref: TableRef, schema: pa.Schema, properties: Mapping[str, str]) -> None:
        """Create the table with its properties in its first commit.

        Two creators race on version 0: the loser sees "already exists" or, when the
        winner's commit came between its own reads, "Protocol changed since last commit"
        (``CommitFailedError``); either way the base looks again and opens the winner's.
        With delta-rs's own retries the loser instead committed a second CREATE TABLE as
        version 1 (seen when two processes pushed a graph at once), so it gets none.
        """
        DeltaTable.create(
            ref.uri,
            schema=schema,
            configuration=dict(properties),
            raise_if_key_not_exists=False,
            storage_options=object_store_options(self.root, self.storage),
            commit_properties=_commit({COMMIT_OPERATION: "create"}, retries=0),
        )

    def _is_create_conflict(self, exc: Exception) -> bool:
        return isinstance(exc, CommitFailedError)
