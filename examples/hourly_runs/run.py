"""An hourly pipeline over a growing dataset: each resolve costs what changed, not the table.

Run it: ``python examples/hourly_runs/run.py [STORE_DIR] [--samples N]``. See the README
beside this file.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import polars as pl

import metaxy_lake as mxl


class Video(
    mxl.Feature,
    spec=mxl.FeatureSpec(key="hourly/video", id_columns=["video_id"], fields=["audio", "frames"]),
):
    path: str


class Embedding(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="hourly/embedding", id_columns=["video_id"], deps=[Video], fields=["vector"]
    ),
):
    dim: int


def videos(ids: range, audio: str = "a") -> pl.DataFrame:
    """Root rows: ids, a path and the provenance of each field (file checksums, say)."""
    return pl.DataFrame(
        {
            "video_id": [f"v{i:07d}" for i in ids],
            "path": [f"s3://media/{i}.mp4" for i in ids],
            "metaxy_provenance_by_field": [
                {"audio": f"{audio}{i}", "frames": f"f{i}"} for i in ids
            ],
        }
    )


def run(store: mxl.LakeStore, label: str) -> None:
    """Resolve Embedding, "compute" what it names, write it; say how the resolve went."""
    start = time.perf_counter()
    inc = store.resolve_update(Embedding)
    todo = pl.concat(
        [inc.new.collect().to_polars(), inc.stale.collect().to_polars()], how="diagonal_relaxed"
    )
    seconds = time.perf_counter() - start
    if todo.height:
        store.write(Embedding, todo.with_columns(dim=pl.lit(512)))
    how = (
        f"checkpoint, {inc.candidates:,} candidates checked"
        if inc.path == "checkpoint"
        else f"full scan ({inc.reason})"
    )
    counts = inc.counts()
    print(f"{label}: {how}; new {counts['new']:,}, stale {counts['stale']:,} ({seconds:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="?", help="store directory (default: a temporary one)")
    parser.add_argument("--samples", type=int, default=200_000)
    args = parser.parse_args()
    n = args.samples
    with tempfile.TemporaryDirectory() as tmp:
        store = mxl.LakeStore(args.store or tmp)
        store.write(Video, videos(range(n)))
        run(store, "hour 0")  # everything is new: nothing to start from
        for hour in (1, 2, 3):
            # 1% of the videos get new audio, and 0.5% new videos arrive
            store.write(Video, videos(range(hour, n, 100), audio=f"a{hour}-"))
            store.write(Video, videos(range(n, n + n // 200)))
            n += n // 200
            run(store, f"hour {hour}")
        store.compact(Video)  # files rewritten: what was appended since cannot be told
        store.write(Video, videos(range(4, n, 100), audio="a4-"))
        run(store, "hour 4, after a compaction")
        store.write(Video, videos(range(5, n, 100), audio="a5-"))
        run(store, "hour 5")
        run(store, "hour 6, nothing changed")


if __name__ == "__main__":
    main()
