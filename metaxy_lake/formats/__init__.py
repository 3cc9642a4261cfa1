"""Table formats behind one contract, chosen by name from a registry.

Each entry imports its implementation only when asked for, so an unused format's library
(pyiceberg, lance) is never loaded.
"""

from __future__ import annotations

from collections.abc import Callable

from metaxy_lake.errors import StoreConfigError, UnknownFormatError
from metaxy_lake.formats.base import (
    DEFAULT_COMMIT_TIMEOUT_S,
    HISTORY_WINDOW,
    FormatOptions,
    LakeTable,
    TableFormat,
)
from metaxy_lake.formats.capabilities import ALL_CAPABILITIES, Capability
from metaxy_lake.formats.retrying import VANISHED_TRIES
from metaxy_lake.formats.values import (
    Added,
    AsOf,
    CommitRecord,
    DatasetScan,
    ParquetScan,
    ScanSource,
    Staged,
    TableRef,
)
from metaxy_lake.storage import StorageConfig

__all__ = [
    "ALL_CAPABILITIES",
    "DEFAULT_COMMIT_TIMEOUT_S",
    "HISTORY_WINDOW",
    "VANISHED_TRIES",
    "Added",
    "AsOf",
    "Capability",
    "CommitRecord",
    "DatasetScan",
    "FormatOptions",
    "LakeTable",
    "ParquetScan",
    "ScanSource",
    "Staged",
    "TableFormat",
    "TableRef",
    "format_class",
    "known_formats",
    "load_format",
]


def _delta() -> type[TableFormat]:
    from metaxy_lake.formats.delta import DeltaFormat

    return DeltaFormat


def _iceberg() -> type[TableFormat]:
    from metaxy_lake.formats.iceberg import IcebergFormat

    return IcebergFormat


def _lance() -> type[TableFormat]:
    from metaxy_lake.formats.lance import LanceFormat

    return LanceFormat


_REGISTRY: dict[str, Callable[[], type[TableFormat]]] = {
    "delta": _delta,
    "iceberg": _iceberg,
    "lance": _lance,
}


def known_formats() -> list[str]:
    """Names of the registered formats."""
    return sorted(_REGISTRY)


def format_class(name: str) -> type[TableFormat]:
    """Return the format class registered under ``name``.

    Raises:
        UnknownFormatError: No format has that name; the message lists the known ones.
    """
    loader = _REGISTRY.get(name)
    if loader is None:
        raise UnknownFormatError(
            f"unknown table format {name!r} (known: {', '.join(known_formats())})"
        )
    try:
        return loader()
    except ImportError as exc:
        raise StoreConfigError(
            f"format {name!r} needs an optional dependency: pip install 'metaxy-lake[{name}]' "
            f"({exc})"
        ) from exc


def load_format(
    name: str,
    root: str,
    storage: StorageConfig,
    options: FormatOptions,
    commit_timeout_s: float | None = None,
) -> TableFormat:
    """Return the format ``name`` bound to a store's root, storage settings and options.

    ``commit_timeout_s`` None is the default, ``DEFAULT_COMMIT_TIMEOUT_S``.
    """
    timeout = DEFAULT_COMMIT_TIMEOUT_S if commit_timeout_s is None else commit_timeout_s
    return format_class(name)(root, storage, options, timeout)
