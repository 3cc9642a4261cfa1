"""The values the format contract speaks in: where a table lives, what to scan, commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from metaxy_lake.arrowtypes import normalize

if TYPE_CHECKING:  # importing pyarrow.dataset costs a cold start; the annotation is text
    import pyarrow.dataset as pads

AsOf = int | dt.datetime
"""A table version (the format's own numbering) or an aware UTC datetime."""


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

    dataset: pa.Table | pads.Dataset
    schema: pa.Schema


ScanSource = ParquetScan | DatasetScan


class Staged:
    """Data files that ``LakeTable.stage`` wrote and no commit references yet.

    Opaque to all but the table that staged them: each format subclasses it with what its
    commit needs (Delta's add actions, Iceberg's data files, Lance's fragments).
    """


@dataclass(frozen=True)
class Added:
    """The rows the commits after some version added: how many, and what to scan.

    ``rows`` comes from the table's metadata, so a caller can judge the change before
    reading any of it.
    """

    rows: int
    total: int
    """The rows the table holds now (the change is judged against it)."""
    scan: Callable[[], ScanSource]


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
