"""The one commit path: every change to a table goes through ``commit``.

A change is data (a ``CommitRequest``): what to do to the table, what the commit records,
and its precondition (with a caller-supplied write id: "this write id is not in the
recent history"). Two errors keep two meanings apart, as in PyIceberg:

- ``CommitConflictError``: other writers kept winning until the deadline; nothing
  happened (the format retried the conflicts).
- ``CommitStateUnknownError``: the commit may have landed. The table's history decides
  before anything is replayed: it landed (done), or it did not (replayed). The caller sees
  the error only when the history cannot tell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from metaxy_lake.catalog import CommitInfo, commits_from_history
from metaxy_lake.errors import CommitStateUnknownError
from metaxy_lake.failpoints import COMMIT_AFTER_LANDED, COMMIT_HISTORY_UNREADABLE, failpoint
from metaxy_lake.formats import LakeTable

MAX_REPLAYS = 3
"""Times a commit whose outcome proved "not landed" is made again."""

Action = Callable[[LakeTable, Mapping[str, str]], int | None]
"""Makes the change on the table, with the commit metadata; returns the version made."""


def appending(data: pa.Table) -> Action:
    """The action appending ``data`` in one commit."""
    return lambda table, metadata: table.append(data, metadata)


@dataclass(frozen=True)
class WriteResult:
    """The outcome of a commit (``write``, ``delete``, ``compact``).

    Attributes:
        write_id: The commit's write id.
        version: The table version it made (``None`` when nothing was committed).
        rows: Rows written (or deleted).
        replayed: True when the write id was already committed and nothing new was written.
    """

    write_id: str
    version: int | None
    rows: int
    replayed: bool = False


@dataclass(frozen=True)
class CommitRequest:
    """One change to one table.

    Attributes:
        info: What the commit records (write id, operation, versions, rows, writer).
        action: Makes the change (an append, a key delete, a compaction).
        unless_committed: The precondition of a caller-supplied write id: when the
            table's recent history holds it, nothing is done and that commit is returned.
        traceable: Whether the commit carries its write id into history (a format
            without ``compaction_metadata`` cannot trace a compaction), so that an
            unknown outcome can be resolved.
    """

    info: CommitInfo
    action: Action
    unless_committed: bool = False
    traceable: bool = True


def _landed(table: LakeTable, write_id: str) -> WriteResult | None:
    found = table.find_commit(write_id)
    if found is None:
        return None
    (landed,) = commits_from_history([found])
    return WriteResult(write_id, landed.version, landed.rows or 0)


def commit(table: LakeTable, request: CommitRequest) -> WriteResult:
    """Make one commit on ``table``, exactly once.

    Raises:
        CommitConflictError: Other writers kept winning until the deadline (nothing done).
        CommitStateUnknownError: It may have landed and the history cannot tell.
    """
    info = request.info
    if request.unless_committed:
        earlier = _landed(table, info.write_id)
        if earlier is not None:
            return WriteResult(earlier.write_id, earlier.version, earlier.rows, replayed=True)
    metadata = info.to_metadata()
    for _ in range(MAX_REPLAYS):
        try:
            version = request.action(table, metadata)
            failpoint(COMMIT_AFTER_LANDED, error=CommitStateUnknownError)
            return WriteResult(info.write_id, version, info.rows)
        except CommitStateUnknownError as unknown:
            if not request.traceable:
                raise
            try:
                failpoint(COMMIT_HISTORY_UNREADABLE)
                landed = _landed(table, info.write_id)
            except Exception as exc:
                raise CommitStateUnknownError(
                    f"{info.operation} {info.write_id} on {table.ref.name} may have landed, and "
                    f"its history cannot be read ({type(exc).__name__}: {exc}); retry with "
                    f"write_id={info.write_id!r}: a committed write id is not written again"
                ) from unknown
            if landed is not None:
                return landed
    raise CommitStateUnknownError(
        f"{info.operation} {info.write_id} on {table.ref.name}: outcome unknown "
        f"{MAX_REPLAYS} times, and history says it did not land; retry later"
    )
