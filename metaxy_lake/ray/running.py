"""The whole loop in one call: read an increment, compute it, write it back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from ray.data.block import DataBatch
from ray.exceptions import RayError, RayTaskError, UserCodeException

from metaxy_lake.increment import TODO_KINDS
from metaxy_lake.ray.reading import BLOCK_ROWS, read_increment
from metaxy_lake.ray.sink import LakeDatasink
from metaxy_lake.store.resolve.scope import ResolveScope
from metaxy_lake.types import FeatureRef, Filters, FiltersByFeature


def run_increment(
    store: object,
    feature: FeatureRef,
    fn: Callable[[DataBatch], DataBatch],
    *,
    shards: int,
    kinds: Sequence[str] = TODO_KINDS,
    filters: FiltersByFeature | None = None,
    global_filters: Filters = None,
    staleness_predicates: Filters = None,
    batch_format: str = "pyarrow",
    block_rows: int = BLOCK_ROWS,
    rows_per_write: int | None = None,
    scope: ResolveScope | None = None,
    **map_batches_args: object,
) -> list[int]:
    """Compute a feature's increment on Ray with ``fn`` and write it, exactly once.

    ``fn`` gets batches of the increment's rows (in ``batch_format``) and returns them
    with the feature's columns added, keeping the increment's columns.

    Args:
        store: As ``read_increment``'s.
        feature: As ``read_increment``'s.
        fn: The batch function (``Dataset.map_batches``'s).
        shards: How many shards, hence read tasks.
        kinds: ``new``, ``stale`` or both.
        filters: As ``resolve_update``'s.
        global_filters: As ``resolve_update``'s.
        staleness_predicates: As ``resolve_update``'s.
        batch_format: ``pyarrow``, ``pandas`` or ``numpy``.
        block_rows: Rows per block at most.
        rows_per_write: As ``LakeDatasink``'s: None writes each shard in one commit.
        scope: As ``read_increment``'s.
        **map_batches_args: Passed to ``map_batches`` (``batch_size``, ``num_gpus``...).

    Returns:
        Rows written per shard.

    Raises:
        Exception: The first failing task's error (its commit, whole, did not land).
    """
    sink = LakeDatasink(store, feature, rows_per_write=rows_per_write)
    asked = ResolveScope.of(filters, global_filters, staleness_predicates, scope=scope)
    dataset = read_increment(
        store, feature, shards=shards, kinds=kinds, block_rows=block_rows, scope=asked
    )
    map_batches_args.setdefault("batch_size", None)
    computed = dataset.map_batches(
        fn, batch_format=batch_format, **cast(dict[str, Any], map_batches_args)
    )
    try:
        computed.write_datasink(sink)
    except RayError as exc:
        raise task_error(exc) from exc
    return [sink.rows_per_shard.get(index, 0) for index in range(shards)]


def task_error(error: BaseException) -> BaseException:
    """The error a task raised, out of the Ray exceptions that carry it to the driver.

    Ray raises a task's error as a ``RayTaskError`` holding it as ``cause``, and an error
    of a batch function as a ``UserCodeException`` caused by it.
    """
    while True:
        if isinstance(error, RayTaskError) and error.cause is not None:
            error = error.cause
        elif isinstance(error, UserCodeException) and error.__cause__ is not None:
            error = error.__cause__
        else:
            return error
