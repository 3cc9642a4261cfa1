"""Apache Iceberg tables through pyiceberg, in any pyiceberg catalog.

Tables are named ``<namespace>.<key parts joined by __>`` and keep their data under the
store root. A local root defaults to an SQLite catalog at ``_catalog/iceberg.db``; an
object-store root needs an explicit ``catalog=`` (two machines with two SQLite files would
silently diverge).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    CommitFailedException,
    CommitStateUnknownException,
    NoSuchTableError,
    ValidationException,
)
from pyiceberg.expressions import And, BooleanExpression, EqualTo, In, Or
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.table import Table

from metaxy_lake.errors import (
    CommitStateUnknownError,
    ReadOnlyStoreError,
    StoreConfigError,
    TimeTravelError,
)
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
    retry_commit,
)
from metaxy_lake.schema import COMMIT_PREFIX
from metaxy_lake.storage import CONNECT_TIMEOUT_S

OPTION_CATALOG = "catalog"
OPTION_NAMESPACE = "namespace"
OPTION_READ_ONLY = "read_only"  # set by the store (``StoreSpec.format_options``)
DEFAULT_NAMESPACE = "metaxy"
CATALOG_FILE = "_catalog/iceberg.db"
_ADDED = "added-records"
_DELETED = "deleted-records"


def _is_conflict(exc: Exception) -> bool:
    """Whether nothing was committed and a fresh table may take the commit.

    Another commit swapped the metadata first (``CommitFailedException``, also when expiry
    did), or removed what this one builds on ("Cannot find starting snapshot", files
    deleted concurrently: ``ValidationException``, measured with a hard delete racing a
    compaction).
    """
    return isinstance(exc, CommitFailedException | ValidationException)


def _is_catalog_setup_race(exc: Exception) -> bool:
    """Two processes setting up a fresh SQL catalog: the loser's CREATE TABLE fails.

    pyiceberg's SQL catalog creates its tables when they are missing; a concurrent
    process may create them between its check and its ``CREATE TABLE``
    (``sqlite3.OperationalError: table iceberg_tables already exists``). Looking again
    finds them.
    """
    return "already exists" in str(exc) and type(exc).__name__ == "OperationalError"


def _local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def _file_uri(uri: str) -> str:
    return uri if "://" in uri else Path(uri).as_uri()


def _path(uri: str) -> str:
    return uri.removeprefix("file://") if uri.startswith("file://") else uri


def _key_filter(keys: pa.Table) -> BooleanExpression:
    names = keys.column_names
    if len(names) == 1:
        return In(term=names[0], values=keys.column(0).to_pylist())
    rows = [And(*[EqualTo(term=n, value=row[n]) for n in names]) for row in keys.to_pylist()]
    return rows[0] if len(rows) == 1 else Or(*rows)


class IcebergTable(LakeTable):
    """An Iceberg table opened at one snapshot."""

    def __init__(
        self, ref: TableRef, table: Table, snapshot_id: int | None, pinned: bool = False
    ) -> None:
        self.ref = ref
        self._table = table
        self._snapshot_id = snapshot_id
        self._pinned = pinned  # opened as of a snapshot: read that snapshot's schema
        self._planned: dict[int, list[Any]] = {}

    @property
    def version(self) -> int | None:
        """The snapshot id (None before the first commit with data)."""
        return self._snapshot_id

    @property
    def schema(self) -> pa.Schema:
        """The current schema, or the snapshot's when opened as of one."""
        snapshot = (
            self._table.snapshot_by_id(self._snapshot_id)
            if self._pinned and self._snapshot_id is not None
            else None
        )
        schemas = {s.schema_id: s for s in self._table.schemas().values()}
        schema = (
            schemas[snapshot.schema_id]
            if snapshot is not None and snapshot.schema_id in schemas
            else self._table.schema()
        )
        return arrow_schema(schema.as_arrow())

    @property
    def properties(self) -> Mapping[str, str]:
        """The table properties."""
        return dict(self._table.properties)

    @property
    def identity(self) -> str:
        """The table's uuid (Iceberg gives one at creation)."""
        return str(self._table.metadata.table_uuid)

    def _tasks(self, snapshot_id: int | None) -> list[Any]:
        """A snapshot's planned file scan tasks (a snapshot's files never change: kept)."""
        if snapshot_id is None:
            return []
        if snapshot_id not in self._planned:
            self._planned[snapshot_id] = list(
                self._table.scan(snapshot_id=snapshot_id).plan_files()
            )
        return self._planned[snapshot_id]

    def _files(self, version: int | None) -> dict[str, int] | None:
        """Each planned data file's path and rows (None where delete files apply)."""
        tasks = self._tasks(version)
        if any(task.delete_files for task in tasks):
            return None
        return {_path(t.file.file_path): int(t.file.record_count) for t in tasks}

    def _scan_files(self, files: Sequence[str], columns: Sequence[str]) -> ScanSource:
        return ParquetScan(tuple(files), self.schema)

    def _commits_between(self, version: int) -> list[CommitRecord] | None:
        """The snapshots from the open one back through its parents to ``version``.

        Parents, not commit times, order them: writers' clocks differ.
        """
        records = {r.version: r for r in self.history()}
        out = []
        current = self._snapshot_id
        while current is not None and current != version:
            snapshot = self._table.snapshot_by_id(current)
            if snapshot is None or current not in records:
                return None
            out.append(records[current])
            current = snapshot.parent_snapshot_id
        return out if current == version else None

    def scan(self) -> ScanSource:
        """Planned data files, or an Arrow table where delete files must be applied."""
        if self._snapshot_id is None:
            return ParquetScan((), self.schema)
        tasks = self._tasks(self._snapshot_id)
        if any(task.delete_files for task in tasks):
            return DatasetScan(
                self._table.scan(snapshot_id=self._snapshot_id).to_arrow(), self.schema
            )
        return ParquetScan(tuple(_path(t.file.file_path) for t in tasks), self.schema)

    def file_count(self) -> int:
        """Data files of this snapshot."""
        return len(self._tasks(self._snapshot_id))

    def _commit(self, action: Any, what: str) -> int | None:
        def attempt() -> None:
            self._table = self._table.refresh()
            try:
                action(self._table)
            except CommitStateUnknownException as exc:  # the catalog may have swapped
                raise CommitStateUnknownError(f"{what} on {self.ref.name}: {exc}") from exc

        self._retry(attempt, f"{what} on")
        snapshot = self._table.current_snapshot()
        self._snapshot_id = snapshot.snapshot_id if snapshot is not None else None
        return self._snapshot_id

    def _is_conflict(self, exc: Exception) -> bool:
        return _is_conflict(exc)

    def stage(self, data: pa.Table) -> Any:
        """Write Parquet data files for the current schema."""
        table = self._table.refresh()
        return list(_dataframe_to_data_files(table_metadata=table.metadata, df=data, io=table.io))

    def commit(self, staged: Any, metadata: Mapping[str, str]) -> int:
        """Fast-append the staged files in one snapshot whose summary carries ``metadata``."""
        props = dict(metadata)

        def add(table: Table) -> None:
            with (
                table.transaction() as tx,
                tx.update_snapshot(snapshot_properties=props).fast_append() as append,
            ):
                for data_file in staged:
                    append.append_data_file(data_file)

        version = self._commit(add, "append")
        assert version is not None
        return version

    def add_columns(self, fields: Sequence[pa.Field]) -> None:
        """Add nullable columns by name."""

        def evolve(table: Table) -> None:
            with table.update_schema() as update:
                update.union_by_name(pa.schema(list(fields)))

        self._commit(evolve, "schema update")

    def delete_keys(self, keys: pa.Table, metadata: Mapping[str, str]) -> int:
        """Delete matching rows (copy-on-write: files are rewritten, no delete files)."""
        props, where = dict(metadata), _key_filter(keys)
        version = self._commit(lambda t: t.delete(where, snapshot_properties=props), "delete")
        assert version is not None
        return version

    def history(self, limit: int | None = None) -> list[CommitRecord]:
        """Snapshots newest first (as the catalog has them now), with their summaries."""
        latest = self._table.refresh()
        # commit order is the sequence number: timestamps are the writers' clocks, which drift
        snapshots = sorted(
            latest.snapshots(),
            key=lambda s: (s.sequence_number or 0, s.timestamp_ms),
            reverse=True,
        )
        records = []
        for snapshot in snapshots[:limit]:
            summary = snapshot.summary
            extra = summary.additional_properties if summary is not None else {}
            rows = extra.get(_ADDED) or extra.get(_DELETED)
            records.append(
                CommitRecord(
                    version=snapshot.snapshot_id,
                    timestamp=dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.UTC),
                    operation=summary.operation.value if summary is not None else "",
                    rows=int(rows) if rows is not None else None,
                    metadata={k: v for k, v in extra.items() if k.startswith(COMMIT_PREFIX)},
                )
            )
        return records

    def first_commit_at(self) -> dt.datetime | None:
        """The time of the snapshot without a parent (the first), while it is kept.

        A table without snapshots has held no rows at any time, and opens empty as of any
        time.
        """
        # Expiry leaves the oldest kept snapshot without its parent too: the first one is
        # also the first in sequence (v2 tables number snapshots from 1).
        first = [
            s
            for s in self._table.refresh().snapshots()
            if s.parent_snapshot_id is None and (s.sequence_number or 1) <= 1
        ]
        if not first:
            return None
        return dt.datetime.fromtimestamp(min(s.timestamp_ms for s in first) / 1000, dt.UTC)

    def compact(self, metadata: Mapping[str, str]) -> int | None:
        """Rewrite every row in one overwrite snapshot (pyiceberg 0.12 has no compaction API).

        The snapshot removes the old data files and adds the rewritten ones at once, so
        no reader ever sees a half-compacted table.
        """
        if len(list(self._table.scan().plan_files())) <= 1:
            return None
        props = dict(metadata)

        def rewrite(table: Table) -> None:
            scan = table.scan()
            old = [task.file for task in scan.plan_files()]
            rows = scan.to_arrow()
            with (
                table.transaction() as tx,
                tx.update_snapshot(snapshot_properties=props).overwrite() as overwrite,
            ):
                for data_file in old:
                    overwrite.delete_data_file(data_file)
                for data_file in _dataframe_to_data_files(
                    table_metadata=tx.table_metadata, df=rows, io=table.io
                ):
                    overwrite.append_data_file(data_file)

        return self._commit(rewrite, "compaction")

    def expire(self, older_than: dt.datetime) -> int:
        """Expire snapshots older than ``older_than`` (never the current one).

        Only the metadata forgets them: pyiceberg 0.12 deletes no data file on expiry and
        has no orphan-file removal, so no staged file is ever at risk.
        """
        before = {s.snapshot_id for s in self._table.refresh().snapshots()}

        def expire(table: Table) -> None:
            table.maintenance.expire_snapshots().older_than(older_than).commit()

        self._commit(expire, "expiry")
        return len(before - {s.snapshot_id for s in self._table.snapshots()})


class IcebergFormat(TableFormat):
    """Apache Iceberg in a pyiceberg catalog (SQL, REST, Glue...)."""

    name = "iceberg"
    capabilities = Capabilities()
    unreferenced_files_kept = None  # expiry deletes no file (see ``IcebergTable.expire``)

    def _catalog_file(self) -> Path | None:
        """The local SQLite catalog file of a local store without ``catalog=`` (else None)."""
        if self.options.get(OPTION_CATALOG) is not None or not _local(self.root):
            return None
        return Path(_path(self.root)) / CATALOG_FILE

    def _no_catalog_yet(self) -> bool:
        """A read-only store whose local catalog file does not exist (yet): it has no table.

        Like a Delta or Lance store at a missing root, it reads as empty and creates
        nothing; once a writer creates the file, the next read opens it.
        """
        db = self._catalog_file()
        return bool(self.options.get(OPTION_READ_ONLY)) and db is not None and not db.exists()

    @functools.cached_property
    def catalog(self) -> Catalog:
        """The pyiceberg catalog: ``catalog=`` properties, or a local SQLite file.

        Raises:
            ReadOnlyStoreError: The store is read-only and its local catalog file does not
                exist (opening it would create it).
        """
        properties = self.options.get(OPTION_CATALOG)
        if properties is None:
            db = self._catalog_file()
            if db is None:
                raise StoreConfigError(
                    f"an Iceberg store at {self.root} needs catalog={{...}}: an object-store "
                    "root has no safe default catalog (two machines with two SQLite files "
                    "would silently diverge)"
                )
            if self._no_catalog_yet():
                raise ReadOnlyStoreError(
                    f"the read-only Iceberg store at {self.root} has no catalog ({db}) and "
                    "creates none"
                )
            db.parent.mkdir(parents=True, exist_ok=True)
            properties = {"type": "sql", "uri": f"sqlite:///{db}"}
        properties = {"warehouse": _file_uri(self.root), **self._file_io(), **properties}
        return retry_commit(
            lambda: load_catalog("metaxy_lake", **properties),
            _is_catalog_setup_race,
            self.commit_timeout_s,
            f"opening the Iceberg catalog of {self.root}",
        )

    def _file_io(self) -> dict[str, str]:
        """Pyiceberg FileIO properties for an object-store root."""
        if _local(self.root):
            return {}
        storage = self.storage
        spelled = {
            "s3.endpoint": storage.endpoint_url,
            "s3.region": storage.region_or_default,
            "s3.access-key-id": storage.access_key_id,
            "s3.secret-access-key": storage.secret_access_key,
            "s3.session-token": storage.session_token,
            "s3.connect-timeout": str(float(CONNECT_TIMEOUT_S)),
        }
        return {k: v for k, v in spelled.items() if v}

    @property
    def namespace(self) -> str:
        """The catalog namespace of the store's tables."""
        return str(self.options.get(OPTION_NAMESPACE, DEFAULT_NAMESPACE))

    def _identifier(self, ref: TableRef) -> tuple[str, str]:
        return (self.namespace, ref.name)

    def _open(self, ref: TableRef, as_of: AsOf | None) -> IcebergTable | None:
        """Load the table at its current snapshot, or as of a snapshot id or a time."""
        if self._no_catalog_yet():
            return None
        try:
            table = self.catalog.load_table(self._identifier(ref))
        except NoSuchTableError:
            return None
        current = table.current_snapshot()
        snapshot_id = current.snapshot_id if current is not None else None
        if isinstance(as_of, int):
            if table.snapshot_by_id(as_of) is None:
                raise TimeTravelError(f"table {ref.name} has no snapshot {as_of} (or it expired)")
            snapshot_id = as_of
        elif as_of is not None and current is not None:
            found = table.snapshot_as_of_timestamp(int(as_of.timestamp() * 1000))
            if found is None:
                raise TimeTravelError(f"table {ref.name} has no snapshot as of {as_of.isoformat()}")
            snapshot_id = found.snapshot_id
        return IcebergTable(ref, table, snapshot_id, pinned=as_of is not None)

    def _ensure_namespace(self) -> None:
        """Create the namespace unless it exists, also when a concurrent writer wins the race.

        Catalogs differ in what a lost race raises (pyiceberg's SQL catalog checks, then
        inserts, and lets the database's unique-constraint error through), so any failure is
        judged by looking again: the namespace exists now, or the failure was real.
        """
        try:
            self.catalog.create_namespace_if_not_exists(self.namespace)
        except Exception:
            if not self.catalog.namespace_exists(self.namespace):
                raise

    def _create(self, ref: TableRef, schema: pa.Schema, properties: Mapping[str, str]) -> None:
        """Create the table at the ref's location (a concurrent creator's is opened)."""
        self._ensure_namespace()
        self.catalog.create_table(
            self._identifier(ref),
            schema=schema,
            location=_file_uri(ref.uri),
            properties=dict(properties),
        )
