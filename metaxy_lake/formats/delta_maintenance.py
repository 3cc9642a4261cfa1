"""Delta expiry's two steps: the vacuum of old data files, and the removal of old log entries.

``DeltaLakeTable.expire`` runs them in one retried attempt; history then lists only
versions whose files are all kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Callable

from deltalake import CommitProperties, DeltaTable
from pyarrow import fs

from metaxy_lake.storage import StorageConfig, pyarrow_filesystem

VACUUM_SLACK_S = 60
"""Seconds the vacuum window may fall short of ``older_than`` before it takes one more hour.

delta-rs vacuums by whole hours; rounding up keeps files at least as long as the log
entries that reference them. The slack keeps ``older_than=0`` at zero hours: the time
between the caller's cutoff and the vacuum is not a reason to keep an hour of files.
"""

_LOG_ENTRY = re.compile(r"^(\d{20})\.")
"""A log entry, checkpoint or checksum of one version (``_delta_log/<version>.*``)."""


def vacuum(
    table: DeltaTable, older_than: dt.datetime, properties: CommitProperties
) -> tuple[int, dt.datetime]:
    """Remove the data files that only versions before ``older_than`` read.

    Files are vacuumed by whole hours (rounded up). A data file a pending commit staged
    is never removed: the vacuum is delta-rs's "lite" one, which removes only files a
    commit removed (measured: an uncommitted file two hours old stays; the "full" vacuum
    would remove it).

    Returns:
        How many data files were removed, and the vacuum's own cutoff (files of versions
        committed before it may be gone).
    """
    age = (dt.datetime.now(dt.UTC) - older_than).total_seconds()
    hours = math.ceil(max(0.0, age - VACUUM_SLACK_S) / 3600)
    removed = table.vacuum(
        retention_hours=hours,
        dry_run=False,
        enforce_retention_duration=False,
        full=False,
        commit_properties=properties,
    )
    return len(removed), dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours)


def drop_log_before(
    uri: str, storage: StorageConfig, version: int, checkpoint: Callable[[], None]
) -> None:
    """Remove the log entries (and checkpoints) of every version before ``version``.

    ``checkpoint`` (one at ``version``) runs first, so that it and every later version
    still load. delta-rs's ``cleanup_metadata`` takes no cutoff (only the table property),
    hence the removal here. Oldest first: the log never has a gap, which a concurrent load
    refuses ("Expected contiguous commit files", measured when removing newest first).
    A removal cut short leaves entries with no checkpoint before them: the next expiry
    removes them.
    """
    filesystem, base = pyarrow_filesystem(uri, storage)
    entries = filesystem.get_file_info(fs.FileSelector(f"{base.rstrip('/')}/_delta_log"))
    old = sorted(
        (int(match.group(1)), entry.path)
        for entry in entries
        if (match := _LOG_ENTRY.match(entry.base_name)) and int(match.group(1)) < version
    )
    if not old:
        return
    checkpoint()
    for _, path in old:
        with contextlib.suppress(FileNotFoundError):  # a concurrent expiry came first
            filesystem.delete_file(path)
