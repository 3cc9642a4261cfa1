"""Reading a library's error: did the request's outcome get lost, did storage fail, is a file gone.

A commit request that timed out or lost its connection after it was sent may have been
applied by the server: its outcome is unknown, and only the table's history can say.
A request the server never received (connection refused, unknown host) or refused
(credentials, permissions) failed: nothing happened.

Storage failures (the object store or the disk refused or failed a request) are told
apart from everything else, so that only they are reported as ``StorageAccessError``: a
bug or a damaged table must not read as a network problem. A data file that a table's
log names but that is gone is damage, not a storage failure (the store answered: "no such
object").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_SENT_THEN_LOST = (
    "timed out",
    "timeout",
    "connection reset",
    "connection closed",
    "connection aborted",
    "broken pipe",
    "incomplete message",
    "unexpected eof",
)
_NEVER_SENT = ("connection refused", "dns error", "name or service not known", "no route")


@dataclass(frozen=True)
class StorageErrors:
    """What a format's library raises, besides ``OSError``, when a storage request failed.

    Each format declares its own (``TableFormat.storage_errors``); ``storage_failure``
    adds what every store shares: ``OSError`` (what delta-rs, pyarrow and fsspec raise for
    I/O, measured with an unreachable endpoint, wrong keys and a read-only identity) and
    ``COMMON_STORAGE_ERRORS``.
    """

    classes: frozenset[tuple[str, str]] = frozenset()
    """(library, class name) of the errors that are storage failures."""
    markers: tuple[str, ...] = ()
    """Texts (lower case) of errors that are storage failures, whatever their class."""


COMMON_STORAGE_ERRORS = StorageErrors(
    classes=frozenset(
        {
            ("duckdb", "IOException"),  # a scan's read through a filesystem failed
            ("duckdb", "HTTPException"),
            ("botocore", "BotoCoreError"),  # the catalog's files, through s3fs
            ("botocore", "ClientError"),
        }
    ),
)
"""Storage failures of the parts every store uses: DuckDB's scans and s3fs."""
_GONE_MARKERS = ("no files found", "not found", "no such file", "does not exist")
_DATA_FILE = re.compile(r"""[^\s"',]+\.(?:parquet|lance|avro)\b""")
"""A data file's path: Parquet (Delta, Iceberg), Lance data files, Iceberg manifests."""
_DAMAGED = (
    ("tablemetadatawrapper", "invalid json"),  # pyiceberg: a metadata file empty or cut short
    ("lanceerror(io)", "invalid range 0..0 for object of size 0"),  # Lance: an empty manifest
    ("lanceerror(io)", "file size is too small"),  # Lance: a manifest cut short
)
"""Texts of the errors a table whose latest metadata file is damaged raises (measured by
emptying and by cutting short the newest ``*.metadata.json`` and ``_versions/*.manifest``,
locally and on SeaweedFS)."""
_CHAIN = 8


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the errors it was raised from (a bounded walk)."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def transport_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says a request was sent and its answer lost (outcome unknown)."""
    text = str(exc).lower()
    return any(m in text for m in _SENT_THEN_LOST) and not any(m in text for m in _NEVER_SENT)


def missing_data_file(exc: BaseException) -> str | None:
    """The data file ``exc`` says is gone, or None.

    Seen: DuckDB's ``No files found that match the pattern "<file>"`` (Delta, Iceberg),
    Lance's ``Not found: <file>``, pyarrow's ``FileNotFoundError``.
    """
    for error in _chain(exc):
        text = str(error)
        if isinstance(error, FileNotFoundError) or any(m in text.lower() for m in _GONE_MARKERS):
            found = _DATA_FILE.search(text)
            if found is not None:
                return found.group(0)
    return None


def damaged_metadata(exc: BaseException) -> bool:
    """Whether ``exc`` says a table's metadata file is damaged (empty or cut short)."""
    for error in _chain(exc):
        text = str(error).lower()
        if any(all(m in text for m in markers) for markers in _DAMAGED):
            return True
    return False


def storage_failure(exc: BaseException, declared: StorageErrors) -> bool:
    """Whether ``exc`` is the object store or disk refusing or failing a request.

    ``exc`` is one when it, or an error it was raised from, is an ``OSError`` or an error
    that ``declared`` (the format's) or ``COMMON_STORAGE_ERRORS`` names. The walk stops at
    a built-in error of another kind (``AssertionError``, ``KeyError``, ``TypeError``...):
    that is a bug, also when raised while handling a storage failure, and must propagate
    as itself.
    """
    classes = declared.classes | COMMON_STORAGE_ERRORS.classes
    markers = declared.markers + COMMON_STORAGE_ERRORS.markers
    for error in _chain(exc):
        if isinstance(error, OSError):
            return True
        for kind in type(error).__mro__:
            if (kind.__module__.split(".")[0].lstrip("_"), kind.__name__) in classes:
                return True
        if any(m in str(error).lower() for m in markers):
            return True
        if type(error).__module__ == "builtins":  # no library's wrapper: a bug
            return False
    return False
