"""Loading a Delta table and reading its log, while an expiry may remove old entries."""

from __future__ import annotations

from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from metaxy_lake.formats.retrying import retry_vanished
from metaxy_lake.formats.values import AsOf


def vanished(exc: Exception) -> bool:
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


def load(uri: str, options: dict[str, str] | None, version: int | None = None) -> DeltaTable:
    """The table at ``uri`` (as of ``version`` when given)."""
    return retry_vanished(
        lambda: DeltaTable(uri, version=version, storage_options=options), vanished
    )


def log_entries(table: DeltaTable, limit: int | None = None) -> list[dict[str, Any]]:
    """The commit infos of the newest log entries, newest first."""
    return retry_vanished(lambda: table.history(limit), vanished)


def version_at(table: DeltaTable, as_of: AsOf) -> int:
    """The version to load: ``as_of`` itself, or the latest commit at or before a time.

    Commit timestamps (those ``history()`` reports) decide, not the log files'
    modification times that delta-rs would use (coarse on some object stores).

    Raises:
        ValueError: The first commit is later than ``as_of`` (the opener names it
            ``TimeTravelError``).
    """
    if isinstance(as_of, int):
        return as_of
    limit = as_of.timestamp() * 1000
    versions = [int(h["version"]) for h in log_entries(table) if h["timestamp"] <= limit]
    if not versions:
        raise ValueError("the table's first commit is later")
    return max(versions)
