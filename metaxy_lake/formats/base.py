"""The one contract every table format satisfies.

A ``TableFormat`` is bound to one store (root URI, storage options, format options); it
opens and creates tables. A ``LakeTable`` is one table opened at one version. Nothing
outside ``formats/`` imports deltalake, pyiceberg or lance: the rest of metaxy_lake talks
to tables only through these classes.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import pyarrow as pa

from metaxy_lake.arrowtypes import normalize
from metaxy_lake.errors import CommitConflictError
from metaxy_lake.failpoints import WRITE_AFTER_DATA_FILES, failpoint
from metaxy_lake.storage import StorageConfig

AsOf = int | dt.datetime
"""A table version (the format's own numbering) or an aware UTC datetime."""

T = TypeVar("T")


@dataclass(frozen=True)
class Capabilities:
    """What a format can do; a missing capability is a declared gap, not a bug."""

    time_travel_by_version: bool = True
    time_travel_by_timestamp: bool = True
    hard_delete: bool = True
    schema_evolution: bool = True
    compaction: bool = True
    expiry: bool = True
    compaction_metadata: bool = True
    """Whether a compaction commit carries metaxy's commit metadata (write id...)."""
    first_version: int | None = 0
    """The version a new table starts at (None: versions are ids, not counters)."""


@dataclass(frozen=True)
class TableRef:
    """Where a feature's table lives: its name (key parts joined by ``__``) and its URI."""

    name: str
    uri: str


@dataclass(frozen=True)
class ParquetScan:
    """Plain Parquet data files that DuckDB may read with ``read_parquet`` as they are."""

    files: tuple[str, ...]
    schema: pa.Schema


@dataclass(frozen=True)
class DatasetScan:
    """An Arrow dataset (or table) for DuckDB to scan where plain files are not enough."""

    dataset: Any
    schema: pa.Schema


ScanSource = ParquetScan | DatasetScan


@dataclass(frozen=True)
class CommitRecord:
    """One commit of a table, as its history tells it."""

    version: int
    timestamp: dt.datetime
    operation: str
    rows: int | None
    metadata: Mapping[str, str] = field(default_factory=dict)


def arrow_schema(schema: pa.Schema) -> pa.Schema:
    """A format's schema in canonical spelling (``string``, not ``large_string``...)."""
    return pa.schema([pa.field(f.name, normalize(f.type)) for f in schema])


class LakeTable(ABC):
    """One table of a lakehouse format, opened at one version."""

    ref: TableRef

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

    def append(self, data: pa.Table, metadata: Mapping[str, str]) -> int:
        """Append rows in one commit carrying ``metadata``; return the new version.

        Two phases: the data files are written first (invisible to readers), then one
        commit adds them. A writer killed between the two leaves the table as it was.
        """
        staged = self.stage(data)
        failpoint(WRITE_AFTER_DATA_FILES)
        return self.commit(staged, metadata)

    @abstractmethod
    def stage(self, data: pa.Table) -> Any:
        """Write ``data`` as data files that no commit references yet."""

    @abstractmethod
    def commit(self, staged: Any, metadata: Mapping[str, str]) -> int:
        """Commit staged data files (retrying conflicts); return the new version."""

    @abstractmethod
    def add_columns(self, fields: Sequence[pa.Field]) -> None:
        """Evolve the schema by adding nullable columns."""

    @abstractmethod
    def delete_keys(self, keys: pa.Table, metadata: Mapping[str, str]) -> int:
        """Remove every row whose key columns equal a row of ``keys``; return the version."""

    @abstractmethod
    def history(self, limit: int | None = None) -> list[CommitRecord]:
        """Commits, newest first."""

    @abstractmethod
    def compact(self, metadata: Mapping[str, str]) -> int | None:
        """Rewrite small data files into larger ones, keeping every row; return the version."""

    @abstractmethod
    def expire(self, older_than: dt.datetime) -> int:
        """Remove versions (and files only they need) older than ``older_than``.

        Returns:
            How many versions or files were removed, as the format counts them.
        """


class TableFormat(ABC):
    """A lakehouse table format bound to one store.

    Args:
        root: The store's root URI.
        storage: Object-store settings (each format spells them its own way).
        options: Format-specific options (for Iceberg, ``catalog`` and ``namespace``).
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, root: str, storage: StorageConfig, options: Mapping[str, Any]) -> None:
        self.root = root
        self.storage = storage
        self.options = dict(options)

    @abstractmethod
    def open(self, ref: TableRef, as_of: AsOf | None = None) -> LakeTable | None:
        """Open a table (at the latest version or as of one), or ``None`` if there is none.

        Raises:
            TimeTravelError: ``as_of`` is before the table existed or was expired.
        """

    @abstractmethod
    def create(self, ref: TableRef, schema: pa.Schema, properties: Mapping[str, str]) -> LakeTable:
        """Create a table; if another writer created it meanwhile, open that one."""


def retry_commit(
    attempt: Callable[[], T],
    is_conflict: Callable[[Exception], bool],
    deadline_s: float = 120.0,
    what: str = "commit",
) -> T:
    """Call ``attempt`` until it succeeds, retrying conflicts with jittered backoff.

    Conflicts (another writer committed first: nothing happened, safe to retry) are
    retried until ``deadline_s``; any other error propagates at once.

    Raises:
        CommitConflictError: Still conflicting when the deadline passed.
    """
    start = time.monotonic()
    delay = 0.01
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            if time.monotonic() - start > deadline_s:
                raise CommitConflictError(
                    f"{what} still conflicting after {deadline_s:.0f} s: {exc}"
                ) from exc
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 1.0)
