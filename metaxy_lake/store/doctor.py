"""A store's damaged metadata, listed and (where it is safe) set aside: ``mxl doctor``.

What is looked at (docs/architecture.md, "Damaged metadata"): every table under
``features/`` and the snapshots table (a damaged last commit: opening refuses it), their
data files where the format lists them as files (one LIST per table), the catalog's rows
(a spec that is no recorded definition), and the resolve checkpoints (a file that cannot be
read). A repair only moves a file aside, never deletes or rewrites: a damaged last Delta
commit (the table then reads as of the commit before) and an unreadable checkpoint (never
needed for a correct answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyarrow import fs as pafs

from metaxy_lake.catalog.checkpoints import (
    CHECKPOINTS_DIR,
    set_aside_checkpoint,
    unreadable_checkpoints,
)
from metaxy_lake.errors import DamagedMetadataError
from metaxy_lake.formats import LakeTable, ParquetScan, TableRef
from metaxy_lake.storage import pyarrow_filesystem
from metaxy_lake.store.snapshots import damaged_rows, snapshots_ref
from metaxy_lake.store.tables.context import FEATURES_DIR, StoreContext


class DamageKind(StrEnum):
    """What is damaged."""

    COMMIT = "damaged_commit"
    """A table's last commit file is empty or half-written: the table is refused."""
    SNAPSHOT_ROW = "damaged_snapshot_row"
    """A catalog row's spec is no recorded definition: its snapshot is skipped."""
    CHECKPOINT = "unreadable_checkpoint"
    """A resolve checkpoint cannot be read: resolves skip it (and scan)."""
    METADATA = "damaged_table_metadata"
    """A table's latest metadata file the format cannot read (Iceberg, Lance): refused."""
    MISSING_FILE = "missing_data_file"
    """A data file the table's log names is gone: reads of the table fail."""


_REPAIR = {
    DamageKind.COMMIT: "--repair sets the file aside; the table reads as of the commit before "
    "and that commit's rows must be written again",
    DamageKind.SNAPSHOT_ROW: "push the graph again (`mxl graph push`) to record it whole",
    DamageKind.CHECKPOINT: "--repair sets the file aside (the next resolve scans in full)",
    DamageKind.METADATA: "restore the file from a backup, or roll the table back to its "
    "previous metadata with the format's own tools",
    DamageKind.MISSING_FILE: "restore the file from a backup; no repair here can bring its "
    "rows back",
}


@dataclass(frozen=True)
class Damage:
    """One piece of damaged metadata.

    Attributes:
        kind: What is damaged.
        path: The damaged (or missing) file, or the table holding a damaged row.
        detail: What is wrong with it.
        repair: How to repair it.
        repaired: Where ``repair=True`` moved the file (None: it is still there).
    """

    kind: DamageKind
    path: str
    detail: str
    repair: str
    repaired: str | None = None


def _damage(kind: DamageKind, path: str, detail: str) -> Damage:
    return Damage(kind, path, detail, _REPAIR[kind])


def _tables(ctx: StoreContext) -> list[TableRef]:
    """The feature tables found under ``features/`` (one LIST), then the snapshots table."""
    filesystem, base = pyarrow_filesystem(f"{ctx.root}/{FEATURES_DIR}", ctx.storage)
    infos = filesystem.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)
    return [TableRef(n, f"{ctx.root}/{FEATURES_DIR}/{n}") for n in names] + [snapshots_ref(ctx)]


def _missing_files(ctx: StoreContext, table: LakeTable) -> list[Damage]:
    """Data files the open version names that the table's directory lacks (one LIST)."""
    source = table.scan()
    if not isinstance(source, ParquetScan) or not source.files:
        return []
    filesystem, base = pyarrow_filesystem(table.ref.uri, ctx.storage)
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    present = {i.path for i in filesystem.get_file_info(selector)}
    out = []
    for uri in source.files:
        if pyarrow_filesystem(uri, ctx.storage)[1] not in present:
            detail = f"table {table.ref.uri} version {table.version} names it; it is gone"
            out.append(_damage(DamageKind.MISSING_FILE, uri, detail))
    return out


def _table_damage(ctx: StoreContext, ref: TableRef, repair: bool) -> list[Damage]:
    try:
        table = ctx.format.open(ref)
    except DamagedMetadataError as exc:
        path = exc.path or ref.uri
        # a format that names the damaged file knows it (Delta's commit), else the table
        kind = DamageKind.METADATA if path == ref.uri else DamageKind.COMMIT
        found = _damage(kind, path, str(exc))
        moved = ctx.format.set_aside(ref, path) if repair else None
        if moved is None:
            return [found]
        return [Damage(found.kind, path, found.detail, found.repair, moved)]
    return [] if table is None else _missing_files(ctx, table)


def examine(ctx: StoreContext, repair: bool = False) -> list[Damage]:
    """Every piece of damaged metadata of a store (see ``LakeStore.doctor``)."""
    if repair:
        ctx.check_writable("doctor --repair")
    found: list[Damage] = []
    for ref in _tables(ctx):
        found += _table_damage(ctx, ref, repair)
    try:
        rows = damaged_rows(ctx)
    except DamagedMetadataError:
        rows = []  # the snapshots table itself is damaged (listed above): no row to read
    found += [_damage(DamageKind.SNAPSHOT_ROW, e.path or "", str(e)) for e in rows]
    for table_name, name, why in unreadable_checkpoints(ctx.root, ctx.storage):
        path = f"{ctx.root}/{CHECKPOINTS_DIR}/{table_name}/{name}"
        moved = set_aside_checkpoint(ctx.root, ctx.storage, table_name, name) if repair else None
        found.append(
            Damage(DamageKind.CHECKPOINT, path, why, _REPAIR[DamageKind.CHECKPOINT], moved)
        )
    return found
