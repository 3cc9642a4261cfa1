"""Videos expand into clips (1:N), and the clips of a video aggregate into a summary (N:1).

Run it: ``python examples/video_clips/run.py [STORE_DIR]``. See the README beside this file.
"""

from __future__ import annotations

import sys
import tempfile

import narwhals as nw
import polars as pl

import metaxy_lake as mxl

CLIP_SECONDS = 10


class Video(
    mxl.Feature,
    spec=mxl.FeatureSpec(key="clips/video", id_columns=["video_id"], fields=["audio", "frames"]),
):
    path: str
    seconds: int


class Clip(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="clips/clip",
        id_columns=["clip_id"],
        # each video expands into clips: provenance per video, copied onto each of its clips
        deps=[mxl.FeatureDep(Video, lineage=mxl.LineageRelationship.expansion(on=["video_id"]))],
        fields=["audio", "frames"],
    ),
):
    video_id: str  # the parent: every clip names its video
    start: int
    path: str


class Summary(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="clips/summary",
        id_columns=["video_id"],
        # the clips of a video aggregate into one summary; `start` arrives as a list
        deps=[
            mxl.FeatureDep(
                Clip, select=["start"], lineage=mxl.LineageRelationship.aggregation(on=["video_id"])
            )
        ],
        fields=[
            mxl.FieldSpec("speech", deps=[mxl.FieldDep(Clip, ["audio"])]),
            mxl.FieldSpec("scenes", deps=[mxl.FieldDep(Clip, ["frames"])]),
        ],
    ),
):
    clips: int


def videos(rows: dict[str, tuple[int, str]]) -> pl.DataFrame:
    """Video rows: id → (seconds, checksum); the checksum is each field's provenance."""
    return pl.DataFrame(
        {
            "video_id": list(rows),
            "path": [f"s3://videos/{v}.mp4" for v in rows],
            "seconds": [s for s, _ in rows.values()],
            "metaxy_provenance_by_field": [
                {"audio": f"a-{c}", "frames": f"f-{c}"} for _, c in rows.values()
            ],
        }
    )


def expand(store: mxl.LakeStore) -> None:
    """Cut each new or stale video into clips; drop the clips a re-cut no longer makes."""
    inc = store.resolve_update(Clip)
    parents = pl.concat(
        [
            inc.new.collect().to_polars(),
            inc.stale.collect().to_polars().drop("metaxy_changed_fields"),
        ]
    )
    seconds = store.read(Video).collect().to_polars().select("video_id", "seconds")
    parents = parents.join(seconds, on="video_id")
    keep = ["video_id", "metaxy_provenance_by_field", "metaxy_provenance", "metaxy_upstream"]
    clips = [
        {
            **{c: parent[c] for c in keep},
            "clip_id": f"{parent['video_id']}/{start:04d}",
            "start": start,
            "path": f"s3://clips/{parent['video_id']}/{start:04d}.mp4",
        }
        for parent in parents.iter_rows(named=True)
        for start in range(0, parent["seconds"], CLIP_SECONDS)
    ]
    counts = inc.counts()
    print(f"clips: {counts['new']} new and {counts['stale']} stale videos -> {len(clips)} clips")
    if clips:
        made = pl.DataFrame(clips, schema_overrides={c: parents.schema[c] for c in keep})
        store.write(Clip, made)
        leftover = nw.col("video_id").is_in(parents["video_id"].to_list()) & ~nw.col(
            "clip_id"
        ).is_in(made["clip_id"].to_list())
        gone = store.delete(Clip, leftover)
        if gone.rows:
            print(f"clips: deleted {gone.rows} clips the re-cut no longer makes")
    orphaned = inc.orphaned.collect().to_polars()
    if len(orphaned):
        store.delete(Clip, nw.col("clip_id").is_in(orphaned["clip_id"].to_list()))
        print(f"clips: deleted {len(orphaned)} orphaned clips of a deleted video")


def summarise(store: mxl.LakeStore) -> None:
    """One summary per video, from the list of its clips."""
    inc = store.resolve_update(Summary)
    stale = inc.stale.collect().to_polars()
    for row in stale.iter_rows(named=True):
        print(f"summary: {row['video_id']} stale, fields {row['metaxy_changed_fields']}")
    rows = pl.concat([inc.new.collect().to_polars(), stale.drop("metaxy_changed_fields")])
    counts = inc.counts()
    print(f"summary: {counts['new']} new, {counts['stale']} stale, {counts['orphaned']} orphaned")
    if len(rows):
        store.write(Summary, rows.with_columns(clips=pl.col("start").list.len()).drop("start"))
    orphaned = inc.orphaned.collect().to_polars()
    if len(orphaned):
        store.delete(Summary, nw.col("video_id").is_in(orphaned["video_id"].to_list()))


def main(root: str) -> None:
    """Four rounds: first videos, a re-cut, a deletion, and then nothing to do."""
    store = mxl.LakeStore(root)
    rounds = [
        (
            "three videos arrive",
            lambda: store.write(Video, videos({"v1": (30, "1"), "v2": (45, "2"), "v3": (20, "3")})),
        ),
        ("v2 is trimmed to 25 s", lambda: store.write(Video, videos({"v2": (25, "2-trim")}))),
        ("v3 is deleted", lambda: store.delete(Video, nw.col("video_id") == "v3")),
        ("nothing changes", lambda: None),
    ]
    for n, (what, change) in enumerate(rounds, 1):
        print(f"round {n}: {what}")
        change()
        expand(store)
        summarise(store)
    summaries = store.read(Summary).collect().to_polars().sort("video_id")
    print("summaries:", dict(zip(summaries["video_id"], summaries["clips"], strict=True)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="video-clips-"))
