"""Code run in separate processes by the concurrency and crash tests."""

from __future__ import annotations

import sys
from typing import Any

import polars as pl

import metaxy_lake as mxl


def batch_feature() -> type[mxl.Feature]:
    g = mxl.FeatureGraph()
    with g.use():

        class Batch(mxl.Feature, spec=mxl.FeatureSpec(key="batch")):
            writer: int
            seq: int

    return Batch


def batch(writer: int, seq: int, rows: int) -> pl.DataFrame:
    uids = [f"w{writer}-s{seq}-r{i}" for i in range(rows)]
    return pl.DataFrame(
        {
            "sample_uid": uids,
            "writer": [writer] * rows,
            "seq": [seq] * rows,
            "metaxy_provenance_by_field": [{"default": u} for u in uids],
        }
    )


def write_batches(kwargs: dict[str, Any], writer: int, writes: int, rows: int) -> int:
    """Write ``writes`` batches of ``rows`` rows; return how many were written."""
    feature = batch_feature()
    store = mxl.LakeStore(**kwargs)
    for seq in range(writes):
        store.write(feature, batch(writer, seq, rows), write_id=f"w{writer}-s{seq}")
    return writes


if __name__ == "__main__":  # python workers.py '<kwargs repr>' writer writes rows
    import ast

    write_batches(ast.literal_eval(sys.argv[1]), *map(int, sys.argv[2:5]))
