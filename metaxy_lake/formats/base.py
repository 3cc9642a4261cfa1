"""The one contract every table format satisfies.

A ``TableFormat`` opens and creates tables; a ``LakeTable`` is one opened table at one
version. Nothing outside ``formats/`` imports deltalake, pyiceberg or lance: the rest of
metaxy_lake talks to tables only through these classes.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    """What a format can do; a missing capability is a declared gap, not a bug."""

    time_travel_by_version: bool = True
    time_travel_by_timestamp: bool = True
    hard_delete: bool = True
    schema_evolution: bool = True


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


class LakeTable(ABC):
    """One table of a lakehouse format, opened at one version."""

    uri: str

    @property
    @abstractmethod
    def version(self) -> int:
        """The table version this handle reads (the format's own numbering)."""

    @property
    @abstractmethod
    def schema(self) -> pa.Schema:
        """The table's Arrow schema."""

    @property
    @abstractmethod
    def properties(self) -> Mapping[str, str]:
        """The table's properties (Delta configuration, Iceberg properties...)."""

    @abstractmethod
    def scan(self) -> ScanSource:
        """What DuckDB should scan to read this version of the table."""

    @abstractmethod
    def append(self, data: pa.Table, metadata: Mapping[str, str]) -> int:
        """Append rows in one commit carrying ``metadata``; return the new version."""

    @abstractmethod
    def add_columns(self, fields: Sequence[pa.Field]) -> None:
        """Evolve the schema by adding nullable columns."""

    @abstractmethod
    def delete_keys(self, keys: pa.Table, metadata: Mapping[str, str]) -> int:
        """Remove every row whose key columns equal a row of ``keys``; return the version."""

    @abstractmethod
    def history(self, limit: int | None = None) -> list[CommitRecord]:
        """Commits, newest first."""


class TableFormat(ABC):
    """A lakehouse table format (Delta Lake, Iceberg, Lance)."""

    name: str
    capabilities: Capabilities

    @abstractmethod
    def open(self, uri: str, storage_options: Mapping[str, str]) -> LakeTable | None:
        """Open the latest version of a table, or return ``None`` if there is none."""

    @abstractmethod
    def create(
        self,
        uri: str,
        schema: pa.Schema,
        properties: Mapping[str, str],
        storage_options: Mapping[str, str],
    ) -> LakeTable:
        """Create a table; if another writer created it meanwhile, open that one."""
