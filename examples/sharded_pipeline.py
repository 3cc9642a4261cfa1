"""A pipeline step run by several workers, each resolving and writing its own shard.

Run it: ``python examples/sharded_pipeline.py /tmp/metaxy-example``. Every worker calls
``resolve_update(..., shard=(i, n))``, computes only its samples, and commits on its own:
no coordinator. A second run finds nothing to do.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

import polars as pl

import metaxy_lake as mxl


class Video(
    mxl.Feature,
    spec=mxl.FeatureSpec(key="example/video", fields=["frames", "audio"]),
):
    path: str


class Embedding(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="example/embedding",
        deps=[Video],
        fields=[mxl.FieldSpec("vector", code_version="1", deps=[mxl.FieldDep(Video, ["frames"])])],
    ),
):
    dim: int


WORKERS = 3


def worker(root: str, index: int) -> int:
    """Resolve this worker's shard, compute it, write it; return the rows written."""
    store = mxl.LakeStore(root)
    increment = store.resolve_update(Embedding, shard=(index, WORKERS))
    todo = pl.concat(
        [increment.new.collect().to_polars(), increment.stale.collect().to_polars()],
        how="diagonal_relaxed",
    )
    if todo.is_empty():
        return 0
    # The expensive model would run here, on `todo["path"]`.
    store.write(Embedding, todo.with_columns(dim=pl.lit(512)))
    return todo.height


def main(root: str) -> None:
    """Seed videos, then run the sharded step twice."""
    store = mxl.LakeStore(root)
    uids = [f"v{i:03d}" for i in range(30)]
    store.write(
        Video,
        pl.DataFrame(
            {
                "sample_uid": uids,
                "path": [f"/data/{u}.mp4" for u in uids],
                "metaxy_provenance_by_field": [{"frames": u, "audio": u} for u in uids],
            }
        ),
    )
    for attempt in (1, 2):
        # delta-rs is not fork-safe once used in the parent: start workers with "spawn".
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(WORKERS, mp_context=spawn) as pool:
            written = list(pool.map(worker, [root] * WORKERS, range(WORKERS)))
        print(f"run {attempt}: rows written per worker {written}, total {sum(written)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
