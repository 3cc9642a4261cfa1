"""An increment as a Ray Dataset: one read task per shard, each resolving its own shard.

Each task opens the store from its ``StoreSpec`` (in the worker's engine session), resolves
``shard=(i, n)`` and yields the samples to compute in blocks of at most ``block_rows``,
each row tagged with ``metaxy_batch`` (the increment's id, the shard, the block) so that
the datasink derives its write ids from what it writes, whatever Ray did with the blocks
in between.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import ray
from ray.data import DataContext, Dataset
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from metaxy_lake.config import StoreSpec
from metaxy_lake.errors import ScopeArgumentsError
from metaxy_lake.increment import TODO_KINDS, check_kinds
from metaxy_lake.ray.features import FeatureHandle
from metaxy_lake.schema import BATCH
from metaxy_lake.store import LakeStore
from metaxy_lake.store.resolve.scope import ResolveScope
from metaxy_lake.types import FeatureRef, Filters, FiltersByFeature, IncrementKind

BLOCK_ROWS = 100_000
"""Rows per block a read task yields (a shard larger than that yields several)."""


@dataclass(frozen=True)
class ShardRead:
    """One shard of an increment to read, as plain data a task can carry.

    Attributes:
        store: The store's spec.
        feature: The feature's handle.
        scope: ``resolve_update``'s scope, with the shard ``(index, count)``.
        kinds: ``new``, ``stale`` or both.
        block_rows: Rows per block at most.
    """

    store: StoreSpec
    feature: FeatureHandle
    scope: ResolveScope
    kinds: tuple[IncrementKind, ...] = TODO_KINDS
    block_rows: int = BLOCK_ROWS

    def blocks(self) -> Iterator[pa.Table]:
        """Resolve the shard and yield its samples to compute, tagged with ``metaxy_batch``."""
        store = LakeStore.from_spec(self.store)
        increment = store.resolve_update(self.feature.resolve(), scope=self.scope)
        # in id order, so that a task Ray runs again on unchanged tables slices alike
        todo = increment.todo(self.kinds).sort(*increment.shard_columns)
        rows = todo.collect().to_arrow()
        assert self.scope.shard is not None, "a read task resolves one shard"
        index, count = self.scope.shard
        for block, start in enumerate(range(0, max(rows.num_rows, 1), self.block_rows)):
            part = rows.slice(start, self.block_rows)
            tag = f"{increment.id}/{index}-{count}/{block}"
            yield part.append_column(BATCH, pa.array([tag] * part.num_rows, pa.string()))


class IncrementDatasource(Datasource):
    """A Ray datasource of one increment: a read task per shard (``read_increment``)."""

    def __init__(self, reads: Sequence[ShardRead]) -> None:
        """Read these shards, one task each."""
        super().__init__()  # type: ignore[no-untyped-call]
        self._reads = list(reads)

    def estimate_inmemory_data_size(self) -> int | None:
        """Unknown before the shards are resolved."""
        return None

    def get_read_tasks(
        self,
        parallelism: int,
        per_task_row_limit: int | None = None,
        data_context: DataContext | None = None,
    ) -> list[ReadTask]:
        """One task per shard, whatever ``parallelism`` Ray asks for."""
        return [
            ReadTask(read.blocks, BlockMetadata(None, None, None, None)) for read in self._reads
        ]

    def get_name(self) -> str:
        """How Ray names the read tasks."""
        return "MetaxyIncrement"


def read_increment(
    store: object,
    feature: FeatureRef,
    *,
    shards: int,
    kinds: Sequence[str] = TODO_KINDS,
    filters: FiltersByFeature | None = None,
    global_filters: Filters = None,
    staleness_predicates: Filters = None,
    block_rows: int = BLOCK_ROWS,
    scope: ResolveScope | None = None,
) -> Dataset:
    """A feature's increment as a Ray Dataset whose blocks are shards resolved in tasks.

    Each of ``shards`` read tasks opens the store from its configuration and resolves
    ``shard=(i, shards)``; rows carry ``metaxy_status`` (``new`` or ``stale``),
    ``metaxy_changed_fields`` and ``metaxy_batch``, which ``LakeDatasink`` turns into
    write ids (``write`` drops all three).

    Args:
        store: A ``LakeStore`` (its configuration, not its connection), a path or URI,
            a store name of ``metaxy_lake.toml``, or a mapping with ``root``, ``format``,
            ``storage_options``.
        feature: A feature class (its module must be importable by the workers; a
            driver script's own is loaded from its path) or a key.
        shards: How many shards, hence read tasks.
        kinds: ``new``, ``stale`` or both.
        filters: As ``resolve_update``'s.
        global_filters: As ``resolve_update``'s.
        staleness_predicates: As ``resolve_update``'s.
        block_rows: Rows per block at most.
        scope: As ``resolve_update``'s (without a shard: each task adds its own).

    Raises:
        InvalidShardError: ``shards`` is not a positive integer.
        InvalidKindError: A kind is neither ``new`` nor ``stale``.
        UnknownFeatureError: The feature, or a filter's feature, is unknown.
        ScopeArgumentsError: ``scope`` and any of the arguments it replaces, or a scope
            with a shard.
        StoreConfigError: ``store`` names no store.
        SecretExposureError: The store's settings hold a literal credential (tasks
            would carry it): pass it as a ``${VAR}`` reference.
    """
    given = ResolveScope.of(filters, global_filters, staleness_predicates, scope=scope)
    if given.shard is not None:
        raise ScopeArgumentsError("read_increment shards the scope itself: pass one without")
    given.with_shard((0, shards))  # everything is checked before any task starts
    checked = check_kinds(kinds)
    spec, handle = StoreSpec.of(store).portable(), FeatureHandle.of(feature)
    for key in given.filters:  # known here, or by the modules the configuration names
        FeatureHandle.of(key)
    reads = [
        ShardRead(spec, handle, given.with_shard((index, shards)), checked, block_rows)
        for index in range(shards)
    ]
    dataset: Dataset = ray.data.read_datasource(
        IncrementDatasource(reads), override_num_blocks=shards
    )
    return dataset
