"""Table formats behind one contract, chosen by name from a registry.

Each entry imports its implementation only when asked for, so an unused format's library
is never loaded.
"""

from __future__ import annotations

from collections.abc import Callable

from metaxy_lake.errors import UnknownFormatError
from metaxy_lake.formats.base import (
    Capabilities,
    CommitRecord,
    DatasetScan,
    LakeTable,
    ParquetScan,
    ScanSource,
    TableFormat,
)

__all__ = [
    "Capabilities",
    "CommitRecord",
    "DatasetScan",
    "LakeTable",
    "ParquetScan",
    "ScanSource",
    "TableFormat",
    "known_formats",
    "load_format",
]


def _delta() -> TableFormat:
    from metaxy_lake.formats.delta import DeltaFormat

    return DeltaFormat()


_REGISTRY: dict[str, Callable[[], TableFormat]] = {"delta": _delta}


def known_formats() -> list[str]:
    """Names of the registered formats."""
    return sorted(_REGISTRY)


def load_format(name: str) -> TableFormat:
    """Return the format registered under ``name``.

    Raises:
        UnknownFormatError: No format has that name; the message lists the known ones.
    """
    loader = _REGISTRY.get(name)
    if loader is None:
        raise UnknownFormatError(
            f"unknown table format {name!r} (known: {', '.join(known_formats())})"
        )
    return loader()
