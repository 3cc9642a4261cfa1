"""Named failpoints for crash tests: ``METAXY_LAKE_FAILPOINT=<name>[:kill|:raise][,...]``.

Off by default; the variable is read only where a failpoint sits. ``kill`` (the default)
SIGKILLs the process on the spot, as a crash would; ``raise`` raises the failpoint's
error (``FailpointError`` unless the failpoint names another), as a client that loses its
connection after the server acted would. Several failpoints may be set at once,
separated by commas.
"""

from __future__ import annotations

import datetime as dt
import os
import signal

from metaxy_lake.errors import MetaxyLakeError

ENV = "METAXY_LAKE_FAILPOINT"
CLOCK_OFFSET_ENV = "METAXY_LAKE_CLOCK_OFFSET_S"
"""Seconds (may be negative) added to this process's system clock: a skewed worker."""
WRITE_BEFORE_DATA_FILES = "write.before_data_files"
WRITE_AFTER_DATA_FILES = "write.after_data_files"
"""The data files are written, the commit not yet made."""
WRITE_AFTER_COMMIT = "write.after_commit"
"""The write returned from the commit path: its caller sees the failure."""
COMMIT_AFTER_LANDED = "commit.after_landed"
"""Inside the commit path: the commit landed, its outcome is not known yet."""
COMPACT_AFTER_REWRITE = "compact.after_rewrite"
"""A compaction rewrote its files, its commit not yet made."""
COMMIT_CONFLICT = "commit.conflict"
"""Every commit attempt conflicts (until the commit deadline passes)."""
CHECKPOINT_BEFORE_MOVE = "checkpoint.before_move"
"""A resolve's checkpoint file is written under its temporary name, not moved into place."""
COMMIT_HISTORY_UNREADABLE = "commit.history_unreadable"
"""Reading the history to resolve an unknown outcome fails."""


class FailpointError(MetaxyLakeError, RuntimeError):
    """Raised by a failpoint in ``raise`` mode (it reaches the caller as it is)."""


def failpoint(name: str, error: type[Exception] = FailpointError) -> None:
    """Crash, or raise ``error``, here if ``METAXY_LAKE_FAILPOINT`` names this point."""
    setting = os.environ.get(ENV)
    if not setting:
        return
    for entry in setting.split(","):
        point, _, action = entry.strip().partition(":")
        if point != name:
            continue
        if action == "raise":
            raise error(f"failpoint {name}")
        os.kill(os.getpid(), signal.SIGKILL)


def clock_offset() -> dt.timedelta:
    """How far ``METAXY_LAKE_CLOCK_OFFSET_S`` sets this process's clock off (tests only)."""
    setting = os.environ.get(CLOCK_OFFSET_ENV)
    return dt.timedelta(seconds=float(setting)) if setting else dt.timedelta(0)
