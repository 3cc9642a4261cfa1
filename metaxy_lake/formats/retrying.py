"""Retrying a commit that conflicted, and a read that a concurrent expiry broke."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from metaxy_lake.errors import CommitConflictError
from metaxy_lake.failpoints import COMMIT_CONFLICT, failpoint

T = TypeVar("T")


class _InjectedConflict(Exception):
    """Raised by the ``commit.conflict`` failpoint: a conflict that never resolves."""


def retry_commit(
    attempt: Callable[[], T],
    is_conflict: Callable[[Exception], bool],
    deadline_s: float,
    what: str,
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
            failpoint(COMMIT_CONFLICT, error=_InjectedConflict)
            return attempt()
        except Exception as exc:
            if not (isinstance(exc, _InjectedConflict) or is_conflict(exc)):
                raise
            if time.monotonic() - start > deadline_s:
                raise CommitConflictError(
                    f"{what} still conflicting after {deadline_s:g} s: {exc}"
                ) from exc
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 1.0)


VANISHED_TRIES = 5
"""Times a read is made when a file it listed was gone when it read it."""


def retry_vanished(read: Callable[[], T], vanished: Callable[[Exception], bool]) -> T:
    """Call ``read``, and again when it failed on a file that expiry removed meanwhile.

    Expiry removes old log entries, checkpoints and manifests while others read: a read
    that listed one before its removal and read it after fails, and a fresh read lists
    again. A file missing for good fails every try: the last error propagates.
    """
    for tried in range(1, VANISHED_TRIES):
        try:
            return read()
        except Exception as exc:
            if not vanished(exc):
                raise
        time.sleep(0.02 * tried * (0.5 + random.random()))
    return read()
