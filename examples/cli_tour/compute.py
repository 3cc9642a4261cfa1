"""The tour's pipeline: write the videos, then compute every feature's increment.

Run ``python compute.py`` in the project directory (where ``metaxy_lake.toml`` is); the
store is the configuration's default. ``python compute.py videos`` writes the videos only.
"""

import sys

import pipeline
import polars as pl

import metaxy_lake as mxl

SAMPLES = [f"v{i}" for i in range(6)]
FILLS = {"path": pl.lit("crop.mp4"), "count": pl.lit(1), "text": pl.lit("hello")}


def write_videos(store: mxl.LakeStore) -> None:
    """The root rows, with per-field provenance standing in for file checksums."""
    store.write(
        pipeline.Video,
        pl.DataFrame(
            {
                "sample_uid": SAMPLES,
                "path": [f"{uid}.mp4" for uid in SAMPLES],
                "metaxy_provenance_by_field": [
                    {"frames": f"f-{uid}", "audio": f"a-{uid}"} for uid in SAMPLES
                ],
            }
        ),
    )


def compute(store: mxl.LakeStore, feature: type[mxl.Feature]) -> int:
    """Stand in for the expensive step: fill the user columns of the increment's rows."""
    increment = store.resolve_update(feature)
    rows = pl.concat(
        [increment.new.collect().to_polars(), increment.stale.collect().to_polars()],
        how="diagonal_relaxed",
    )
    wanted = {c: FILLS[c] for c in feature.model_fields if c in FILLS}
    return store.write(feature, rows.with_columns(**wanted)).rows


if __name__ == "__main__":
    store = mxl.open_store()
    if store.read(pipeline.Video).head(1).collect().shape[0] == 0:
        write_videos(store)
    if sys.argv[1:] != ["videos"]:
        for feature in pipeline.FEATURES[1:]:
            print(f"{feature.key()}: wrote {compute(store, feature)} rows")
