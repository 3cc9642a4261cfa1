"""Resolve checkpoints as files: ``_catalog/checkpoints/<table name>/<id>-<scope>.parquet``.

A checkpoint (docs/design.md, Checkpoints) is one small Parquet file per resolve: its rows are the
pending ids (the id columns of every sample the increment returned), and its schema
metadata holds the rest as JSON (fingerprint, scope, the tables read at their versions,
whether the pending set was too large to keep). The name starts with a time-ordered id and
ends with a digest of fingerprint and scope, so a reader lists the directory and reads
the footers of its own scope's files only, newest first.

Files are written under a temporary name and moved into place, so a reader never sees a
partial one (a PUT is atomic on S3; a rename on a local disk). Whatever cannot be read as a
checkpoint of this layout is skipped (and logged when it looks corrupt): checkpoints are
never a correctness dependency.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from metaxy_lake.failpoints import CHECKPOINT_BEFORE_MOVE, failpoint
from metaxy_lake.ids import new_write_id, now_utc
from metaxy_lake.storage import StorageConfig, pyarrow_filesystem

CHECKPOINTS_DIR = "_catalog/checkpoints"
DAMAGED_DIR = "_catalog/_damaged"
"""Where ``mxl doctor --repair`` moves checkpoint files that cannot be read."""
LAYOUT = 1
"""The checkpoint file layout; a file of another layout is not used."""
_HEADER = b"metaxy.checkpoint"
_SUFFIX = ".parquet"
_TEMPORARY = ".tmp"
LOOKED_AT = 8
"""Checkpoints of one scope read, newest first, before giving up on finding one usable."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableState:
    """One table a resolve read: feature, store, the table's identity, its version.

    ``identity``, ``version`` and ``files`` are None where the store had no table for the
    feature.
    """

    feature: str
    store: str
    identity: str | None
    version: int | None
    files: str | None = None
    """A digest of the data files the version read (``LakeTable.files_digest``)."""


@dataclass(frozen=True)
class Checkpoint:
    """One resolve's checkpoint.

    Attributes:
        fingerprint: Digest of the target's resolved definition and hash settings.
        scope: Rendered filters, staleness predicates, shard and chain.
        tables: Every table read, at the version read.
        everything_pending: Too many samples were pending to keep their ids (the next
            resolve scans in full); else the file's rows are the pending ids.
        name: The file's name (time-ordered).
        recorded_at: When it was written.
    """

    fingerprint: str
    scope: str
    tables: tuple[TableState, ...]
    everything_pending: bool
    name: str = ""
    recorded_at: dt.datetime | None = None


def scope_digest(fingerprint: str, scope: str) -> str:
    """The part of a checkpoint's file name that tells its fingerprint and scope."""
    return hashlib.sha256(f"{fingerprint}\n{scope}".encode()).hexdigest()[:16]


def _directory(root: str, table_name: str) -> str:
    return f"{root.rstrip('/')}/{CHECKPOINTS_DIR}/{table_name}"


def _header(checkpoint: Checkpoint) -> bytes:
    return json.dumps(
        {
            "layout": LAYOUT,
            "fingerprint": checkpoint.fingerprint,
            "scope": checkpoint.scope,
            "tables": [t.__dict__ for t in checkpoint.tables],
            "all": checkpoint.everything_pending,
            "recorded_at": now_utc().isoformat(),
        },
        sort_keys=True,
    ).encode()


def write_checkpoint(
    root: str, storage: StorageConfig, table_name: str, checkpoint: Checkpoint, pending: pa.Table
) -> str:
    """Write a checkpoint file; return its name.

    Args:
        root: The store's root URI.
        storage: The store's object-store settings.
        table_name: The target's table name (the directory).
        checkpoint: What to record.
        pending: The pending ids (no rows when everything is pending).
    """
    fs, base = pyarrow_filesystem(_directory(root, table_name), storage)
    digest = scope_digest(checkpoint.fingerprint, checkpoint.scope)
    name = f"{new_write_id()}-{digest}{_SUFFIX}"
    rows = pending.replace_schema_metadata({_HEADER: _header(checkpoint)})
    fs.create_dir(base, recursive=True)
    temporary = f"{base}/{name}{_TEMPORARY}"
    pq.write_table(rows, temporary, filesystem=fs, compression="zstd")
    failpoint(CHECKPOINT_BEFORE_MOVE)
    fs.move(temporary, f"{base}/{name}")
    return name


def _names(fs: Any, base: str) -> list[str]:
    from pyarrow import fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    return [i.base_name for i in infos if i.type == pafs.FileType.File]


def _sorted(names: Sequence[str]) -> list[str]:
    """Checkpoint file names, newest first (temporary files left out)."""
    return sorted((n for n in names if n.endswith(_SUFFIX)), reverse=True)


_STATE_TYPES = {
    "feature": (str,),
    "store": (str,),
    "identity": (str, type(None)),
    "version": (int, type(None)),
    "files": (str, type(None)),
}


def _parse(name: str, metadata: dict[bytes, bytes] | None) -> Checkpoint | None:
    """The checkpoint a file's header describes; None when it is not one of this layout.

    Raises:
        ValueError: The header is of this layout but malformed.
    """
    raw = (metadata or {}).get(_HEADER)
    if raw is None:
        return None
    header = json.loads(raw)
    if not isinstance(header, dict) or header.get("layout") != LAYOUT:
        return None
    tables = header.get("tables")
    if not (
        isinstance(header.get("fingerprint"), str)
        and isinstance(header.get("scope"), str)
        and isinstance(header.get("all"), bool)
        and isinstance(tables, list)
        and all(
            isinstance(t, dict)
            and t.keys() == _STATE_TYPES.keys()
            and all(isinstance(t[k], kinds) for k, kinds in _STATE_TYPES.items())
            for t in tables
        )
    ):
        raise ValueError("malformed checkpoint header")
    recorded = header.get("recorded_at")
    return Checkpoint(
        header["fingerprint"],
        header["scope"],
        tuple(TableState(**t) for t in tables),
        header["all"],
        name,
        dt.datetime.fromisoformat(recorded) if isinstance(recorded, str) else None,
    )


def _read_header(fs: Any, base: str, name: str) -> Checkpoint | None:
    """The checkpoint a file holds (its footer only); None, logged, when unreadable."""
    try:
        with fs.open_input_file(f"{base}/{name}") as handle:
            return _parse(name, pq.read_schema(handle).metadata)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        log.warning("checkpoint %s/%s is unreadable, ignored: %s", base, name, exc)
        return None


def read_checkpoints(
    root: str, storage: StorageConfig, table_name: str, fingerprint: str, scope: str
) -> Iterator[Checkpoint]:
    """A target's checkpoints of this fingerprint and scope, newest first (ids unread).

    Unreadable files are skipped (logged).
    """
    fs, base = pyarrow_filesystem(_directory(root, table_name), storage)
    suffix = f"-{scope_digest(fingerprint, scope)}{_SUFFIX}"
    mine = [n for n in _sorted(_names(fs, base)) if n.endswith(suffix)]
    for name in mine[:LOOKED_AT]:
        found = _read_header(fs, base, name)
        if found is not None and found.fingerprint == fingerprint and found.scope == scope:
            yield found


def read_pending(
    root: str, storage: StorageConfig, table_name: str, checkpoint: Checkpoint
) -> pa.Table | None:
    """A checkpoint's pending ids (None when its file cannot be read any more)."""
    fs, base = pyarrow_filesystem(_directory(root, table_name), storage)
    try:
        return pq.read_table(f"{base}/{checkpoint.name}", filesystem=fs).replace_schema_metadata()
    except (OSError, ValueError, pa.ArrowException) as exc:
        log.warning("checkpoint %s/%s is unreadable, ignored: %s", base, checkpoint.name, exc)
        return None


def remove_checkpoints(
    root: str, storage: StorageConfig, table_name: str, names: Sequence[str]
) -> int:
    """Delete checkpoint files (a file already gone counts as removed); return how many."""
    fs, base = pyarrow_filesystem(_directory(root, table_name), storage)
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(f"{base}/{name}")
    return len(names)


def _scope_of(name: str) -> str:
    return name.removesuffix(_SUFFIX).rsplit("-", 1)[-1]


def newest_per_target(root: str, storage: StorageConfig) -> dict[str, Checkpoint]:
    """Per target table name, its newest readable checkpoint, of any scope (ids unread)."""
    fs, base = pyarrow_filesystem(f"{root.rstrip('/')}/{CHECKPOINTS_DIR}", storage)
    from pyarrow import fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    out: dict[str, Checkpoint] = {}
    for table in (i.base_name for i in infos if i.type == pafs.FileType.Directory):
        for name in _sorted(_names(fs, f"{base}/{table}")):
            found = _read_header(fs, f"{base}/{table}", name)
            if found is not None:
                out[table] = found
                break
    return out


def superseded(
    root: str, storage: StorageConfig, table_name: str, before: dt.datetime
) -> list[str]:
    """A target's checkpoint files that no resolve starts from any more.

    Per scope, every file older than the newest one that kept its pending ids (a resolve
    starts from that one, or a newer one); a scope's newest files too when they were
    recorded before ``before`` (the history kept) and a newer checkpoint of the target
    exists (a scope not resolved since, such as an ad-hoc filter: abandoned); the
    temporary files of resolvers that died while writing one. A file that cannot be read
    now (a failed request, another layout) is left alone.
    """
    fs, base = pyarrow_filesystem(_directory(root, table_name), storage)
    names = _names(fs, base)
    out = [n for n in names if n.endswith(_TEMPORARY)]
    usable: set[str] = set()
    for index, name in enumerate(_sorted(names)):
        scope = _scope_of(name)
        if scope in usable:
            out.append(name)
            continue
        found = _read_header(fs, base, name)
        if found is None:
            continue
        if index > 0 and (found.recorded_at is None or found.recorded_at < before):
            out.append(name)
        elif not found.everything_pending:
            usable.add(scope)
    return out


def unreadable_checkpoints(root: str, storage: StorageConfig) -> list[tuple[str, str, str]]:
    """Every checkpoint file that cannot be read as one: (target table, file name, why).

    Readers skip such files (``read_checkpoints``); this lists them. A file of another
    layout is not listed (it is not damaged). A failed request raises (``OSError``): it
    says nothing of the file.
    """
    fs, base = pyarrow_filesystem(f"{root.rstrip('/')}/{CHECKPOINTS_DIR}", storage)
    from pyarrow import fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    out = []
    for table in sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory):
        for name in _sorted(_names(fs, f"{base}/{table}")):
            try:
                with fs.open_input_file(f"{base}/{table}/{name}") as handle:
                    _parse(name, pq.read_schema(handle).metadata)
            except OSError:
                raise
            except (ValueError, KeyError, TypeError, pa.ArrowException) as exc:
                out.append((table, name, f"{type(exc).__name__}: {exc}"))
    return out


def set_aside_checkpoint(root: str, storage: StorageConfig, table_name: str, name: str) -> str:
    """Move a checkpoint file to ``_catalog/_damaged/checkpoints/<table>/``; return where."""
    fs, base = pyarrow_filesystem(root.rstrip("/"), storage)
    aside = f"{base}/{DAMAGED_DIR}/checkpoints/{table_name}"
    fs.create_dir(aside, recursive=True)
    fs.move(f"{base}/{CHECKPOINTS_DIR}/{table_name}/{name}", f"{aside}/{name}")
    return f"{root.rstrip('/')}/{DAMAGED_DIR}/checkpoints/{table_name}/{name}"
