"""The one contract every table format satisfies.

A ``TableFormat`` is bound to one store (root URI, storage options, format options); it
opens and creates tables. A ``LakeTable`` is one table opened at one version. Nothing
outside ``formats/`` imports deltalake, pyiceberg or lance: the rest of metaxy_lake talks
to tables only through these classes.

The base classes own what every format needs alike: create-or-open (also when writers
race to create a table), finding the commit of a write id, running commits through the
conflict retry loop (``formats.retrying``), and the capability check
(``formats.capabilities``); the values they exchange live in ``formats.values``. A
format implements small hooks (``_create``, ``_open``, ...).
Errors keep two meanings apart: ``CommitConflictError`` (nothing happened) and
``CommitStateUnknownError`` (the commit may have landed: the caller looks in history).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, TypeVar

import pyarrow as pa

from metaxy_lake.errors import DamagedMetadataError, StoreConfigError, UnsupportedOperationError
from metaxy_lake.failpoints import WRITE_AFTER_DATA_FILES, failpoint
from metaxy_lake.formats.capabilities import Capability
from metaxy_lake.formats.outcomes import StorageErrors, damaged_metadata
from metaxy_lake.formats.retrying import retry_commit
from metaxy_lake.formats.values import Added, AsOf, CommitRecord, ScanSource, Staged, TableRef
from metaxy_lake.schema import APPEND_OPERATIONS, COMMIT_OPERATION, COMMIT_WRITE_ID, PROP_TABLE_ID
from metaxy_lake.storage import StorageConfig

T = TypeVar("T")

FormatOptions = Mapping[str, object]
"""A format's options: ``read_only`` (the store creates nothing), and for Iceberg
``catalog`` (a mapping of catalog properties) and ``namespace``."""

HISTORY_WINDOW = 100
"""Commits searched for a write id (the idempotency window)."""
DEFAULT_COMMIT_TIMEOUT_S = 120.0
"""How long a commit keeps retrying conflicts with other writers."""
STAGED_FILE_GRACE = dt.timedelta(days=1)
"""The age under which maintenance never removes a data file that no version references.

A writer stages its data files, then commits them: until the commit lands, no version
references them, and removing one then makes the commit reference a missing file (every
later read fails; measured on Lance with ``delete_unverified``). A commit keeps retrying
for at most ``commit_timeout_s`` (held at or below ``MAX_COMMIT_TIMEOUT_S``, a quarter of
this window), after the time its files take to write: a day leaves that margin on any
store. Each format's ``unreferenced_files_kept`` declares how its expiry honours it.
"""
MAX_COMMIT_TIMEOUT_S = STAGED_FILE_GRACE.total_seconds() / 4
"""The longest commit deadline a store accepts (staged files must outlive it)."""


def _digest(files: Mapping[str, int]) -> str:
    return hashlib.sha256("\n".join(sorted(files)).encode()).hexdigest()


class LakeTable(ABC):
    """One table of a lakehouse format, opened at one version."""

    ref: TableRef
    commit_timeout_s: float = DEFAULT_COMMIT_TIMEOUT_S

    def _is_conflict(self, exc: Exception) -> bool:
        """Whether a failed commit attempt left the table as it was and may be tried again.

        Besides other writers' commits, maintenance makes these: a compaction or a hard
        delete removed the files an attempt read, or expiry removed the log entry of the
        version it read. A format refreshes what it holds here when it answers yes.
        """
        return False

    def _retry(self, attempt: Callable[[], T], what: str) -> T:
        """Run one commit (a write, delete, compaction or expiry) through ``retry_commit``.

        Raises:
            CommitConflictError: Still conflicting after ``commit_timeout_s``.
        """
        what = f"{what} {self.ref.name}"
        return retry_commit(attempt, self._is_conflict, self.commit_timeout_s, what)

    @property
    @abstractmethod
    def version(self) -> int | None:
        """The table version this handle reads (None: no commit holds data yet)."""

    @property
    @abstractmethod
    def schema(self) -> pa.Schema:
        """The table's Arrow schema, in canonical spelling."""

    @property
    @abstractmethod
    def properties(self) -> Mapping[str, str]:
        """The table's properties (Delta configuration, Iceberg properties, Lance metadata)."""

    @abstractmethod
    def scan(self) -> ScanSource:
        """What DuckDB should scan to read this version of the table."""

    @abstractmethod
    def file_count(self) -> int:
        """How many data files this version reads (compaction lowers it)."""

    @property
    def identity(self) -> str | None:
        """What tells this table from another at its place (one dropped and created again).

        The format's table id, else the id metaxy_lake gave it at creation.
        """
        return self.properties.get(PROP_TABLE_ID)

    def added_since(
        self, version: int | None, columns: Sequence[str], files: str | None
    ) -> Added | None:
        """The rows committed after ``version`` up to the version open, when only appends.

        Every commit in between must be a metaxy append (a write or a soft delete, by its
        commit metadata): a compaction, a hard delete (Lance keeps the data files and adds
        deletion files), a schema change or another tool's commit gives None, as does a
        ``version`` no longer in the history, or one whose files are not ``files`` (the
        ``files_digest`` taken then: the version number now names other commits, as in a
        table restored from a copy). ``version`` None: the table held no commit then, so
        every row is added.

        Args:
            version: A version of this table, at or before the one open.
            columns: The columns the caller reads of the added rows (at least).
            files: ``files_digest`` of ``version``, as recorded then (None: not known,
                so nothing can be told unless ``version`` is None).
        """
        if version is not None and version != self.version:
            between = self._commits_between(version)
            if between is None or any(
                c.metadata.get(COMMIT_OPERATION) not in APPEND_OPERATIONS for c in between
            ):
                return None
        now = self._files(self.version)
        before = {} if version is None else now if version == self.version else self._files(version)
        if now is None or before is None:
            return None
        if version is not None and (files is None or _digest(before) != files):
            return None
        added = {f: n for f, n in now.items() if f not in before}
        return Added(
            sum(added.values()), sum(now.values()), lambda: self._scan_files(list(added), columns)
        )

    def files_digest(self) -> str | None:
        """A digest of the data files this version reads (None: they cannot be listed)."""
        files = self._files(self.version)
        return None if files is None else _digest(files)

    def _commits_between(self, version: int) -> list[CommitRecord] | None:
        """The commits after ``version`` up to the open one (None: not all in history)."""
        records = self.history()
        order = [r.version for r in records]
        if version not in order or self.version not in order:
            return None
        newest, oldest = order.index(self.version), order.index(version)
        return records[newest:oldest] if newest < oldest else None

    @abstractmethod
    def _files(self, version: int | None) -> dict[str, int] | None:
        """The data files a version reads, each with its rows (None: cannot be told).

        ``version`` is this table's open version or an older one (None: no commit yet).
        A file is named so that a file rewritten in place (Lance's deletion files) gets
        another name.
        """

    @abstractmethod
    def _scan_files(self, files: Sequence[str], columns: Sequence[str]) -> ScanSource:
        """What DuckDB should scan to read ``files`` (named as ``_files`` names them)."""

    def append(self, data: pa.Table, metadata: Mapping[str, str]) -> int:
        """Append rows in one commit carrying ``metadata``; return the new version.

        Two phases: the data files are written first (invisible to readers), then one
        commit adds them. A writer killed between the two leaves the table as it was.

        Raises:
            CommitConflictError: Other writers kept winning until the deadline.
            CommitStateUnknownError: The commit may or may not have landed.
        """
        staged = self.stage(data)
        failpoint(WRITE_AFTER_DATA_FILES)
        return self.commit(staged, metadata)

    @abstractmethod
    def stage(self, data: pa.Table) -> Staged:
        """Write ``data`` as data files that no commit references yet."""

    @abstractmethod
    def commit(self, staged: Staged, metadata: Mapping[str, str]) -> int:
        """Commit data files this table staged (retrying conflicts); return the new version."""

    @abstractmethod
    def add_columns(self, fields: Sequence[pa.Field]) -> None:
        """Evolve the schema by adding nullable columns."""

    @abstractmethod
    def delete_keys(self, keys: pa.Table, metadata: Mapping[str, str]) -> int:
        """Remove every row whose key columns equal a row of ``keys``; return the version."""

    @abstractmethod
    def history(self, limit: int | None = None) -> list[CommitRecord]:
        """Commits, newest first, as the table has them now (whatever version is open)."""

    @abstractmethod
    def first_commit_at(self) -> dt.datetime | None:
        """When the table's first commit was made; None once expiry removed it from history.

        A reader pinned to an earlier time knows from it that the table did not exist yet
        (rather than that the versions it asks for expired).
        """

    @abstractmethod
    def compact(self, metadata: Mapping[str, str]) -> int | None:
        """Rewrite small data files into larger ones, keeping every row.

        Returns:
            The version made, or None when there was nothing to compact.
        """

    @abstractmethod
    def expire(self, older_than: dt.datetime) -> int:
        """Remove versions (and files only they need) older than ``older_than``.

        Returns:
            How many versions or files were removed, as the format counts them.
        """

    def find_commit(self, write_id: str, window: int = HISTORY_WINDOW) -> CommitRecord | None:
        """The commit carrying ``write_id`` among the table's ``window`` latest commits."""
        for record in self.history(window):
            if record.metadata.get(COMMIT_WRITE_ID) == write_id:
                return record
        return None

    def _committed_version(self, metadata: Mapping[str, str], fallback: int) -> int:
        """The version of the commit just made: the one carrying its write id.

        Libraries that do not return the version they made (delta-rs) are asked through
        history; ``fallback`` (the latest version) serves when no write id was given.
        """
        write_id = metadata.get(COMMIT_WRITE_ID)
        found = self.find_commit(write_id) if write_id is not None else None
        return found.version if found is not None else fallback


class TableFormat(ABC):
    """A lakehouse table format bound to one store.

    Args:
        root: The store's root URI.
        storage: Object-store settings (each format spells them its own way).
        options: Format options: ``read_only`` (the store creates nothing), and for Iceberg
            ``catalog`` and ``namespace``.
        commit_timeout_s: How long commits keep retrying conflicts (at most
            ``MAX_COMMIT_TIMEOUT_S``).

    Raises:
        StoreConfigError: ``commit_timeout_s`` is negative or above the maximum.
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    storage_errors: ClassVar[StorageErrors] = StorageErrors()
    """What the format's library raises for a failed storage request besides ``OSError``
    (the store reports those as ``StorageAccessError``, and nothing else)."""
    unreferenced_files_kept: ClassVar[dt.timedelta | None]
    """How old a data file no version references must be before expiry removes it (None:
    expiry removes only files that versions it drops referenced); at least
    ``STAGED_FILE_GRACE``, so that a pending commit's staged files are never removed."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        kept = getattr(cls, "unreferenced_files_kept", None)
        if kept is not None and kept < STAGED_FILE_GRACE:
            raise TypeError(f"{cls.__name__} removes staged files younger than STAGED_FILE_GRACE")

    def __init__(
        self,
        root: str,
        storage: StorageConfig,
        options: FormatOptions,
        commit_timeout_s: float = DEFAULT_COMMIT_TIMEOUT_S,
    ) -> None:
        if not 0 <= commit_timeout_s <= MAX_COMMIT_TIMEOUT_S:
            raise StoreConfigError(
                f"commit_timeout_s={commit_timeout_s:g} is out of range: give seconds "
                f"from 0 to {MAX_COMMIT_TIMEOUT_S:g} (a commit's staged data files are kept "
                f"{STAGED_FILE_GRACE.total_seconds() / 3600:g} hours while it retries)"
            )
        self.root = root
        self.storage = storage
        self.options = dict(options)
        self.commit_timeout_s = commit_timeout_s

    def require(self, capability: Capability, operation: str) -> None:
        """Raise ``UnsupportedOperationError`` unless the format has ``capability``."""
        if capability not in self.capabilities:
            raise UnsupportedOperationError(
                f"the {self.name} format cannot do {operation} (it lacks {capability})"
            )

    def open(self, ref: TableRef, as_of: AsOf | None = None) -> LakeTable | None:
        """Open a table (at the latest version or as of one), or ``None`` if there is none.

        Raises:
            TimeTravelError: ``as_of`` is before the table existed or was expired.
            UnsupportedOperationError: The format cannot travel in time that way.
            DamagedMetadataError: The table's latest metadata is damaged (empty or cut
                short): it is refused for reads and writes alike.
        """
        if isinstance(as_of, int):
            self.require(Capability.TIME_TRAVEL_BY_VERSION, "reads as of a version")
        elif as_of is not None:
            self.require(Capability.TIME_TRAVEL_BY_TIMESTAMP, "reads as of a time")
        try:
            table = self._open(ref, as_of)
        except Exception as exc:
            if not damaged_metadata(exc):
                raise
            raise DamagedMetadataError(
                f"table {ref.uri}: its latest metadata file is damaged ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0]}); reads and writes of it are refused: check the "
                "store with `mxl doctor`",
                ref.uri,
            ) from exc
        if table is not None:
            table.commit_timeout_s = self.commit_timeout_s
        return table

    def create(self, ref: TableRef, schema: pa.Schema, properties: Mapping[str, str]) -> LakeTable:
        """Create a table, or open it when it exists (another writer may create it first).

        Writers racing on a table's first write all succeed: a creation that fails is
        judged by looking again. The table exists now: a concurrent writer won, and its
        table is opened. It does not, and the failure was a conflict: try again. Else the
        failure was real.

        Raises:
            CommitConflictError: Creation kept conflicting until the deadline.
        """

        def attempt() -> LakeTable:
            found = self.open(ref)
            if found is not None:
                return found
            try:
                self._create(ref, schema, properties)
            except Exception as exc:
                found = self.open(ref)
                if found is not None:
                    return found
                if self._is_create_conflict(exc):
                    raise _CreateConflict(str(exc)) from exc
                raise
            created = self.open(ref)
            if created is None:
                raise _CreateConflict(f"{ref.uri} was created but cannot be opened yet")
            return created

        return retry_commit(
            attempt,
            lambda exc: isinstance(exc, _CreateConflict),
            self.commit_timeout_s,
            f"creating {ref.name}",
        )

    @abstractmethod
    def _open(self, ref: TableRef, as_of: AsOf | None) -> LakeTable | None:
        """Open a table, or return None when it does not exist."""

    @abstractmethod
    def _create(self, ref: TableRef, schema: pa.Schema, properties: Mapping[str, str]) -> None:
        """Create an empty table; may fail when another writer created it meanwhile."""

    def _is_create_conflict(self, exc: Exception) -> bool:
        """Whether a failed creation that left no table may succeed when tried again."""
        return False

    def set_aside(self, ref: TableRef, path: str) -> str | None:
        """Move a damaged metadata file of a table where reads no longer see it.

        Only a file whose damage opening the table reports (``DamagedMetadataError.path``)
        and that the format knows to be safe to move; returns where it went, or None when
        it was left in place (the default: the format knows no such repair).
        """
        return None


class _CreateConflict(Exception):
    """A creation lost a race that left no table to open yet: try again."""
