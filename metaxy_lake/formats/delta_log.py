"""A Delta table's last commit file, checked for damage and set aside (docs/architecture.md).

delta-rs reads a zero-byte ``_delta_log/<N>.json`` as an empty commit: commit N's rows
vanish without an error, and the next write takes N+1, so the loss becomes permanent.
A half-written one (a crash between the file's creation and its last byte reaching the
disk) fails to parse. Writers never leave either behind on a healthy store: delta-rs
creates a commit file whole (a conditional PUT on S3, a rename on a local disk), so a
reader never sees a commit being written, and a damaged last commit is refused, never
read as empty and never written over.

A damaged last commit is set aside under ``_delta_log/_damaged/`` (``mxl doctor
--repair``): the table then reads as of N-1 and the next write takes version N. delta-rs
lists ``_delta_log`` without descending (measured locally and on SeaweedFS), so it never
sees the file set aside.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pyarrow import fs as pafs

from metaxy_lake.errors import DamagedMetadataError
from metaxy_lake.ids import new_write_id

LOG_DIR = "_delta_log"
DAMAGED_DIR = "_damaged"
_COMMIT = re.compile(r"^(\d{20})\.json$")
_ACTIONS = {"commitInfo", "add", "remove", "metaData", "protocol", "txn", "cdc", "domainMetadata"}


def commit_path(base: str, version: int) -> str:
    """The path of commit ``version`` of the table at ``base``."""
    return f"{base.rstrip('/')}/{LOG_DIR}/{version:020d}.json"


def _checkpointed(filesystem: Any, base: str, version: int) -> bool:
    """Whether a checkpoint of ``version`` holds its actions (its JSON is then not read)."""
    path = f"{base.rstrip('/')}/{LOG_DIR}/{version:020d}.checkpoint.parquet"
    return bool(filesystem.get_file_info(path).type == pafs.FileType.File)


def empty_commit(filesystem: Any, base: str, version: int) -> str | None:
    """The path of commit ``version`` when it is an empty file no checkpoint covers.

    One HEAD request (a ``get_file_info``): 0.003 ms on a local disk; on SeaweedFS 2.3 ms
    alone, and 4-13 ms more per open (medians of 60 opens on a busy 2-core machine) next
    to 22-46 ms for delta-rs's own open.
    """
    path = commit_path(base, version)
    info = filesystem.get_file_info(path)
    if info.type != pafs.FileType.File or info.size != 0:
        return None
    return None if _checkpointed(filesystem, base, version) else path


def latest_commit(filesystem: Any, base: str) -> int | None:
    """The highest commit version of the table's log (one LIST), None when it has none."""
    log = f"{base.rstrip('/')}/{LOG_DIR}"
    infos = filesystem.get_file_info(pafs.FileSelector(log, allow_not_found=True))
    versions = [int(m.group(1)) for i in infos if (m := _COMMIT.match(i.base_name))]
    return max(versions, default=None)


def commit_damage(filesystem: Any, path: str) -> str | None:
    """What is wrong with a commit file (empty, not JSON lines, no action), or None."""
    with filesystem.open_input_stream(path) as stream:
        data: bytes = stream.read()
    if not data:
        return "the commit file is empty (0 bytes)"
    lines = [line for line in data.splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        try:
            action = json.loads(line)
        except ValueError as exc:
            return f"line {number} of {len(lines)} is not JSON ({exc}): the file is half-written"
        if not isinstance(action, dict) or not action.keys() & _ACTIONS:
            return f"line {number} of {len(lines)} is no Delta action"
    return None if lines else "the commit file holds no action"


def last_commit_damage(filesystem: Any, base: str) -> tuple[str, str] | None:
    """The table's last commit file and what is wrong with it, when it is damaged."""
    version = latest_commit(filesystem, base)
    if version is None:
        return None
    path = commit_path(base, version)
    damage = commit_damage(filesystem, path)
    return None if damage is None else (path, damage)


def damaged_error(uri: str, path: str, damage: str) -> DamagedMetadataError:
    """The error that refuses the table at ``uri`` whose last commit ``path`` is damaged."""
    return DamagedMetadataError(
        f"table {uri}: its last commit {path} is damaged ({damage}); reading it would "
        "lose that commit's rows and writing would bury them, so both are refused. "
        "`mxl doctor --repair` sets the file aside: the table then reads as of the commit "
        "before, and the rows of the damaged commit must be written again",
        path,
    )


def set_aside(filesystem: Any, base: str, path: str) -> str:
    """Move a damaged commit file to ``_delta_log/_damaged/``; return its new path."""
    name = path.rsplit("/", 1)[-1].removesuffix(".json")
    aside = f"{base.rstrip('/')}/{LOG_DIR}/{DAMAGED_DIR}"
    filesystem.create_dir(aside, recursive=True)
    target = f"{aside}/{name}-{new_write_id()}.json"
    filesystem.move(path, target)
    return target
