"""A Ray datasink that writes each task's rows in one commit, exactly once.

The write id of a task is a digest of the ``metaxy_batch`` tags of its rows (the increment's
id, the shard, the block) and of its rows' ids. So a task that Ray retries after its commit
landed writes again under the same id, which the commit path turns into a no-op; two tasks
never share an id (their ids differ); and the next run, which resolves other table
versions, gets other ids. A write that fails raises in its task, and Ray fails the job
with that error (other tasks' commits stand: each is whole).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypedDict

import pyarrow as pa
import pyarrow.compute as pc
from ray.data.block import Block
from ray.data.datasource import Datasink, WriteResult

from metaxy_lake.config import StoreSpec
from metaxy_lake.errors import MissingColumnError, ReadOnlyStoreError
from metaxy_lake.ray.features import FeatureHandle
from metaxy_lake.schema import BATCH
from metaxy_lake.store import LakeStore
from metaxy_lake.store.write import frames
from metaxy_lake.types import FeatureRef

if TYPE_CHECKING:
    from ray.data._internal.execution.interfaces import TaskContext

WRITE_ID_PREFIX = "ray-"


class TaskWrite(TypedDict):
    """What one write task returns to the driver: its write id and rows per shard."""

    write_id: str | None
    rows: dict[int, int]


def write_id(table: pa.Table, id_columns: Iterable[str]) -> str:
    """The write id of a task's rows: their ``metaxy_batch`` tags and their ids, digested.

    Raises:
        MissingColumnError: The rows lack ``metaxy_batch`` (they did not come from
            ``read_increment``, or the batch function dropped it).
    """
    if BATCH not in table.column_names:
        raise MissingColumnError(
            f"rows to write lack {BATCH}: write the rows of read_increment, keeping its "
            "columns (write drops them)"
        )
    digest = hashlib.sha256()
    for tag in sorted(set(table.column(BATCH).to_pylist())):
        digest.update(f"{tag}\n".encode())
    ids = table.select(list(id_columns))
    order = pc.sort_indices(ids, [(c, "ascending") for c in ids.column_names])
    for name in ids.column_names:
        digest.update(f"{name}\n".encode())
        for value in ids.column(name).take(order).to_pylist():
            digest.update(f"{value}\n".encode())
    return WRITE_ID_PREFIX + digest.hexdigest()[:32]


def rows_per_shard(table: pa.Table) -> dict[int, int]:
    """How many rows of each shard a task holds, from the ``metaxy_batch`` tags."""
    counted: Counter[int] = Counter()
    for tag, n in Counter(table.column(BATCH).to_pylist()).items():
        counted[int(str(tag).split("/")[1].split("-")[0])] += n
    return dict(counted)


def to_arrow(blocks: Iterable[Block]) -> pa.Table:
    """The rows of a task's blocks (Arrow or pandas) as one Arrow table.

    A pandas block converts as ``write`` converts frames: Ray's own conversion pickles a
    column it cannot type (a map of text to numbers, held as tuples), which no check
    could read back.
    """
    tables = [block if isinstance(block, pa.Table) else frames.to_arrow(block) for block in blocks]
    tables = [t for t in tables if t.num_rows] or tables[:1]
    if not tables:
        return pa.table({})
    return pa.concat_tables(tables, promote_options="permissive")


class LakeDatasink(Datasink[TaskWrite]):
    """Writes a Ray Dataset of a feature's rows, each task's rows in one idempotent commit.

    Use as ``read_increment(...).map_batches(compute).write_datasink(sink)``; afterwards
    ``sink.rows_per_shard`` says how many rows each shard wrote. Batches may be pandas,
    pyarrow or numpy: maps and strings a pandas round trip changed are restored.

    Args:
        store: As ``read_increment``'s.
        feature: As ``read_increment``'s.
        rows_per_write: None (default): Ray runs each shard's read, batch function and
            write in one task (it fuses them), so each shard lands in one commit. A
            number: Ray gathers at least that many rows into each write task, when it
            has them (fewer, larger commits for many small shards).
    """

    def __init__(
        self, store: object, feature: FeatureRef, *, rows_per_write: int | None = None
    ) -> None:
        """Write to ``feature`` of ``store``.

        Raises:
            ReadOnlyStoreError: The store is read-only (before any task starts).
            UnknownFeatureError: The feature is unknown.
            SecretExposureError: The store's settings hold a literal credential (tasks
                would carry it): pass it as a ``${VAR}`` reference.
        """
        self._store = StoreSpec.of(store).portable()
        if self._store.read_only:
            raise ReadOnlyStoreError(
                f"{self._store.root} is read-only: a datasink writes; open it writable"
            )
        self._feature = FeatureHandle.of(feature)
        self._rows_per_write = rows_per_write
        self.rows_per_shard: dict[int, int] = {}
        """Rows written per shard, once the write completed."""
        self.write_ids: list[str] = []
        """The write id of every task's commit."""

    @property
    def min_rows_per_write(self) -> int | None:
        """Rows gathered into one write task."""
        return self._rows_per_write

    def get_name(self) -> str:
        """How Ray names the write tasks."""
        return "MetaxyLake"

    def write(self, blocks: Iterable[Block], ctx: TaskContext) -> TaskWrite:
        """Write one task's rows in one commit, under a write id derived from them."""
        table = to_arrow(blocks)
        if table.num_rows == 0:
            return {"write_id": None, "rows": {}}
        store = LakeStore.from_spec(self._store)
        key = self._feature.resolve()
        ids = store.context().resolve(key)[0].id_columns
        result = store.write(key, table, write_id=write_id(table, ids))
        # a replayed write landed in an attempt whose return Ray lost: its rows count once
        return {"write_id": result.write_id, "rows": rows_per_shard(table)}

    def on_write_complete(self, write_result: WriteResult[TaskWrite]) -> None:
        """Gather the tasks' write ids and rows per shard (on the driver)."""
        for returned in write_result.write_returns:
            if returned["write_id"] is not None:
                self.write_ids.append(returned["write_id"])
            for shard, n in returned["rows"].items():
                self.rows_per_shard[shard] = self.rows_per_shard.get(shard, 0) + n
