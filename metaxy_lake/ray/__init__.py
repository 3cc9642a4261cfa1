"""Increments on Ray: shards resolved in tasks, written back exactly once (extra ``ray``).

``read_increment`` reads a feature's increment as a Ray Dataset whose blocks are shards
resolved inside tasks; ``LakeDatasink`` writes each task's rows in one commit whose write
id derives from the increment, the shard and the block, so a retried task lands once;
``run_increment`` runs the loop for a batch function. Nothing else in the package imports
Ray: ``pip install 'metaxy-lake[ray]'``.
"""

try:
    import ray  # noqa: F401  (the extra's check, before anything needs it)
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError("metaxy_lake.ray needs Ray: pip install 'metaxy-lake[ray]'") from exc

from metaxy_lake.ray.features import FeatureHandle
from metaxy_lake.ray.reading import BLOCK_ROWS, IncrementDatasource, ShardRead, read_increment
from metaxy_lake.ray.running import run_increment
from metaxy_lake.ray.sink import LakeDatasink, write_id

__all__ = [
    "BLOCK_ROWS",
    "FeatureHandle",
    "IncrementDatasource",
    "LakeDatasink",
    "ShardRead",
    "read_increment",
    "run_increment",
    "write_id",
]
