"""Code run in separate processes by the concurrency and crash tests."""

from __future__ import annotations

import sys
from typing import Any

import narwhals as nw
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


def race_first_writes(
    stores: list[dict[str, Any]], writer: int, barrier: Any, writes: int, rows: int
) -> None:
    """For each fresh store in turn: wait for every writer, then append ``writes`` batches.

    The barrier lines the writers up on each store's very first write (the table does not
    exist yet), so that they race to create it.
    """
    feature = batch_feature()
    for kwargs in stores:
        store = mxl.LakeStore(**kwargs)
        barrier.wait(timeout=120)
        try:
            for seq in range(writes):
                store.write(feature, batch(writer, seq, rows), write_id=f"w{writer}-s{seq}")
        except BaseException:
            barrier.abort()  # the others stop at the next round instead of waiting
            raise


def write_batches_landed(kwargs: dict[str, Any], writer: int, writes: int, rows: int) -> list[int]:
    """Write ``writes`` batches; return the ``seq`` of each that landed.

    ``CommitConflictError`` (nothing committed) skips a batch; any other error propagates.
    """
    feature = batch_feature()
    store = mxl.LakeStore(**kwargs)
    landed = []
    for seq in range(writes):
        try:
            store.write(feature, batch(writer, seq, rows), write_id=f"w{writer}-s{seq}")
        except mxl.CommitConflictError:
            continue
        landed.append(seq)
    return landed


def hard_delete_each(kwargs: dict[str, Any], samples: list[str]) -> list[str]:
    """Hard-delete each sample of ``batch_feature()`` in turn; return those whose delete
    committed (one that matched no row commits nothing).

    ``CommitConflictError`` (nothing deleted) skips a sample; any other error propagates.
    """
    feature = batch_feature()
    store = mxl.LakeStore(**kwargs)
    deleted = []
    for sample in samples:
        try:
            result = store.delete(feature, nw.col("sample_uid") == sample, soft=False)
        except mxl.CommitConflictError:
            continue
        if result.version is not None:
            deleted.append(sample)
    return deleted


if __name__ == "__main__":  # python workers.py '<kwargs repr>' writer writes rows
    import ast

    write_batches(ast.literal_eval(sys.argv[1]), *map(int, sys.argv[2:5]))


def snapshot_graph(crop_audio: str = "1") -> tuple[mxl.FeatureGraph, dict[str, type[mxl.Feature]]]:
    """Video → Crop → Faces and SpeechToText, with Crop's audio code version given."""
    g = mxl.FeatureGraph()
    with g.use():

        class Video(mxl.Feature, spec=mxl.FeatureSpec(key="video", fields=["frames", "audio"])):
            path: str

        class Crop(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="crop",
                deps=[Video],
                fields=["frames", mxl.FieldSpec("audio", code_version=crop_audio)],
            ),
        ):
            path: str

        class Faces(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="faces",
                deps=[Crop],
                fields=[mxl.FieldSpec("faces", deps=[mxl.FieldDep(Crop, ["frames"])])],
            ),
        ):
            count: int

        class Speech(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="speech",
                deps=[Crop],
                fields=[mxl.FieldSpec("text", deps=[mxl.FieldDep(Crop, ["audio"])])],
            ),
        ):
            text: str

    return g, {"video": Video, "crop": Crop, "faces": Faces, "speech": Speech}


def push_same_graph(kwargs: dict[str, Any], barrier: Any, results: Any) -> None:
    """Wait for the other pusher, push ``snapshot_graph()``, put whether it was new."""
    graph, _ = snapshot_graph()
    store = mxl.LakeStore(**kwargs)
    barrier.wait(timeout=120)
    results.put(store.push_graph(graph=graph, git_commit=None).new)
