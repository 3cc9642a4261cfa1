"""A dev store branched off prod: recompute only what a change touches, never write to prod.

Run it: ``python examples/dev_prod_fallback/run.py [WORKDIR]`` (prod and dev on local
disk), or with ``AWS_ENDPOINT_URL`` (and credentials) set, prod on S3 in ``--bucket``. See
the README beside this file.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid

import narwhals as nw

import metaxy_lake as mxl
from metaxy_lake.demo.scenario import build_features, compute, videos

SAMPLES = 50
SUBSET = 0.10  # the share of Crop samples the developer recomputes in dev


def prod_root(workdir: str, bucket: str) -> str:
    """Prod on S3 when an endpoint is configured (the bucket is created if missing)."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        return os.path.join(workdir, "prod")
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    return f"s3://{bucket}/dev-prod-example/{uuid.uuid4().hex[:8]}"


def populate_prod(root: str) -> list[int | None]:
    """The reference pipeline in prod: videos, then Crop, Faces and SpeechToText."""
    prod = mxl.LakeStore(root, name="prod")
    graph = build_features()
    prod.write(graph.video, videos(SAMPLES))
    for feature in graph.all[1:]:
        prod.write(feature, compute(feature, prod.resolve_update(feature)))
    return [prod.history(f, limit=1)[0].version for f in graph.all]


def counts(store: mxl.LakeStore, feature: type[mxl.Feature]) -> dict[str, int]:
    """New, stale and orphaned samples of a feature, as the store sees them."""
    return store.resolve_update(feature).counts()


def main(workdir: str, bucket: str) -> None:
    """Populate prod, branch dev off it, bump Crop's audio code, recompute 10% in dev."""
    root = prod_root(workdir, bucket)
    versions = populate_prod(root)
    print(f"prod ({root}): {SAMPLES} videos through Crop, Faces and SpeechToText")

    prod = mxl.LakeStore(root, name="prod", read_only=True)
    dev = mxl.LakeStore(os.path.join(workdir, "dev"), name="dev", fallback=[prod])
    after = build_features(crop_audio_version="2")  # the developer's change
    print(f"dev: Crop's audio code version bumped; Crop {counts(dev, after.crop)}")

    every = round(1 / SUBSET)
    chosen = [u for i, u in enumerate(videos(SAMPLES)["sample_uid"]) if i % every == 3]
    only = {after.crop: nw.col("sample_uid").is_in(chosen)}
    todo = dev.resolve_update(after.crop, filters=only)
    dev.write(after.crop, compute(after.crop, todo))
    served = dev.read(after.crop, with_store=True).collect().to_polars()["metaxy_store"]
    by_store = ", ".join(f"{name} {n}" for name, n in served.value_counts(sort=True).rows())
    print(f"dev: recomputed Crop for {len(chosen)} samples; Crop rows served: {by_store}")

    speech = dev.resolve_update(after.speech_to_text)
    stale = sorted(speech.stale.collect().to_polars()["sample_uid"].to_list())
    print(f"dev: SpeechToText {speech.counts()}; stale: {', '.join(stale)}")
    print(f"dev: Faces {counts(dev, after.faces)}")
    assert stale == chosen and speech.counts()["new"] == 0
    assert counts(dev, after.faces) == {"new": 0, "stale": 0, "orphaned": 0}

    before = build_features()
    untouched = [prod.history(f, limit=1)[0].version for f in before.all] == versions
    in_sync = all(prod.resolve_update(f).is_empty for f in before.all[1:])
    print(f"prod: table versions unchanged: {untouched}; nothing to do in prod: {in_sync}")
    assert untouched and in_sync


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", nargs="?", default=None, help="where dev (and local prod) live")
    parser.add_argument("--bucket", default="metaxy-example", help="prod's bucket on S3")
    args = parser.parse_args()
    main(args.workdir or tempfile.mkdtemp(prefix="mxl-fallback-"), args.bucket)
