"""An audit: what produced a sample as of round 1, and why it is stale in round 3.

Run it: ``python examples/audit/run.py [STORE_DIR]``. See the README beside this file.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time

import polars as pl

import metaxy_lake as mxl
from metaxy_lake.demo.scenario import build_features, compute, videos

SAMPLE = "video_0001"


def new_audio(version: str) -> pl.DataFrame:
    """SAMPLE's video again, with a new audio file (its checksum is the provenance)."""
    return pl.DataFrame(
        {
            "sample_uid": [SAMPLE],
            "path": [f"s3://videos/{SAMPLE}.mp4"],
            "metaxy_provenance_by_field": [{"audio": version, "frames": f"f-{SAMPLE}"}],
        }
    )


def round_done(n: int) -> dt.datetime:
    """The time after round ``n``'s commits (commit times are kept to the millisecond)."""
    time.sleep(0.01)
    at = dt.datetime.now(dt.UTC)
    print(f"round {n} done at {at.isoformat(timespec='milliseconds')}")
    time.sleep(0.01)
    return at


def main(root: str) -> None:
    """Three rounds of the pipeline, then the audit and the explanation."""
    store = mxl.LakeStore(root)
    f = build_features()
    store.push_graph(message="round 1", git_commit=None, graph=f.graph)
    store.write(f.video, videos(5))
    for feature in f.all[1:]:
        store.write(feature, compute(feature, store.resolve_update(feature)))
    round1 = round_done(1)

    store.write(f.video, new_audio("a-v2"))  # a re-encoded audio track
    for feature in (f.crop, f.speech_to_text):
        store.write(feature, compute(feature, store.resolve_update(feature)))
    round_done(2)

    store.write(f.video, new_audio("a-v3"))  # and again; only Crop is recomputed
    store.write(f.crop, compute(f.crop, store.resolve_update(f.crop)))
    round_done(3)

    print(f"\nwhat produced {SAMPLE}'s transcript, as of round 1:")
    for row in store.lineage(f.speech_to_text, [SAMPLE], as_of=round1).to_arrow().to_pylist():
        inputs = row["metaxy_provenance_by_field"] if row["depth"] == 2 else row["code_versions"]
        shown = ", ".join(f"{k}={v}" for k, v in sorted(inputs))
        what = "provenance" if row["depth"] == 2 else "code"
        print(
            f"  depth {row['depth']}  {row['feature']:<23} written "
            f"{row['metaxy_created_at']:%H:%M:%S.%f}  data {row['metaxy_data_version'][:8]}  "
            f"{what} {shown}"
        )

    print(f"\nwhy {SAMPLE}'s transcript is stale now (recursive, to the root):")
    for c in store.explain(f.speech_to_text, [SAMPLE], recursive=True).to_arrow().to_pylist():
        print(
            f"  depth {c['depth']}  {c['feature']}.{c['field']}: {c['cause']} of "
            f"{c['upstream_feature']}.{c['upstream_field']}, {c['stored']} -> {c['expected']} "
            f"(commit {c['upstream_write_id'][:8]} at {c['upstream_created_at']:%H:%M:%S.%f})"
        )

    print(f"\nwhere {SAMPLE} stands:")
    for s in store.sample_status([SAMPLE], graph=f.graph).to_arrow().to_pylist():
        changed = f" {s['metaxy_changed_fields']}" if s["metaxy_changed_fields"] else ""
        print(f"  {s['feature']:<23} {s['status']}{changed}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="mxl-audit-"))
