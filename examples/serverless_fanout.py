"""One pipeline step fanned out to N workers that share nothing but the store.

Run it: ``python examples/serverless_fanout.py [ROOT] [--workers N] [--ray]``.

Each worker is a fresh process (a stand-in for a serverless function) given only three
environment variables: ``MXL_STORE`` (the store's URI), ``MXL_FEATURE`` (the feature's
key) and ``MXL_SHARD`` (``i/n``). It opens the store, resolves its shard of the increment,
computes it and writes it, with no coordinator: the shards are disjoint and cover the
whole. A second run finds nothing to do, and ``mxl status --assert-in-sync`` passes.

- The store is local (under ROOT, a temporary directory by default), or on S3 when
  ``AWS_ENDPOINT_URL`` is set (SeaweedFS, MinIO, AWS): ``s3://<--bucket>/serverless-fanout/``
  with credentials from the standard AWS variables; the bucket is created if missing.
- ``--ray`` runs the same step through ``metaxy_lake.ray.run_increment`` on a local Ray
  cluster: one read task per shard, written back exactly once (needs the ``ray`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pyarrow as pa

import metaxy_lake as mxl


class Video(mxl.Feature, spec=mxl.FeatureSpec(key="fanout/video", fields=["frames", "audio"])):
    path: str


class Embedding(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="fanout/embedding",
        deps=[Video],
        fields=[mxl.FieldSpec("vector", code_version="1", deps=[mxl.FieldDep(Video, ["frames"])])],
    ),
):
    dim: int


def embed(batch: pa.Table) -> pa.Table:
    """The expensive model would run here, on ``batch["path"]``."""
    return batch.append_column("dim", pa.array([512] * batch.num_rows, pa.int64()))


def worker() -> None:
    """One serverless invocation: everything it knows comes from its environment."""
    store = mxl.LakeStore(os.environ["MXL_STORE"])
    index, count = (int(n) for n in os.environ["MXL_SHARD"].split("/"))
    increment = store.resolve_update(os.environ["MXL_FEATURE"], shard=(index, count))
    todo = increment.todo().collect().to_arrow()
    if todo.num_rows:
        # a write id derived from the increment: an invocation retried after an unknown
        # outcome writes under the same id, and lands once
        store.write(Embedding, embed(todo), write_id=f"{increment.id}-{index}of{count}")
    print(json.dumps({"shard": index, "rows": todo.num_rows}))


def store_root(workdir: str, bucket: str) -> str:
    """A local root, or one on S3 when an endpoint is configured (the bucket made if missing)."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        return str(Path(workdir) / "store")
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    if not fs.exists(bucket):
        fs.mkdir(bucket)
    return f"s3://{bucket}/serverless-fanout/{uuid.uuid4().hex[:8]}"


def seed(root: str, count: int) -> None:
    uids = [f"v{i:04d}" for i in range(count)]
    rows = {
        "sample_uid": uids,
        "path": [f"/data/{u}.mp4" for u in uids],
        "metaxy_provenance_by_field": [{"frames": u, "audio": u} for u in uids],
    }
    mxl.LakeStore(root).write(Video, pa.table(rows))


def fan_out(root: str, workers: int) -> list[int]:
    """Start one process per shard, each told only the store, the feature and its shard."""
    script = str(Path(__file__).resolve())
    processes = [
        subprocess.Popen(
            [sys.executable, script, "--worker"],
            env={
                **os.environ,
                "MXL_STORE": root,
                "MXL_FEATURE": "fanout/embedding",
                "MXL_SHARD": f"{i}/{workers}",
            },
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    written = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"a worker failed with exit code {process.returncode}")
        written.append(json.loads(out.strip().splitlines()[-1])["rows"])
    return written


def on_ray(root: str, workers: int) -> list[int]:
    """The same step as Ray tasks: one read task per shard, one commit per write task."""
    import ray

    from metaxy_lake.ray import run_increment

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
    return run_increment(root, Embedding, embed, shards=workers)


def assert_in_sync(root: str, workdir: str) -> str:
    """Run ``mxl status --assert-in-sync`` on the store, as a CI gate would."""
    config = Path(workdir) / "metaxy_lake.toml"
    config.write_text(
        f'features = ["serverless_fanout"]\ndefault_store = "fanout"\n'
        f"[stores.fanout]\nroot = {json.dumps(root)}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
    mxl_cli = str(Path(sys.executable).parent / "mxl")
    done = subprocess.run(
        [mxl_cli, "--config", str(config), "status", "--assert-in-sync", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"mxl status --assert-in-sync failed: {done.stdout}{done.stderr}")
    return "in sync" if json.loads(done.stdout)["in_sync"] else "not in sync"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", nargs="?", help="where the local store (and config) live")
    parser.add_argument("--workers", type=int, default=4, help="shards, one worker each")
    parser.add_argument("--videos", type=int, default=1000, help="samples to seed")
    parser.add_argument("--ray", action="store_true", help="run the step on a local Ray cluster")
    parser.add_argument("--bucket", default="metaxy-example", help="the bucket on S3")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    workdir = args.workdir or tempfile.mkdtemp(prefix="mxl-fanout-")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    root = store_root(workdir, args.bucket)
    seed(root, args.videos)
    print(f"store {root}: {args.videos} videos")
    preview = mxl.LakeStore(root).resolve_update(Embedding, checkpoint=False)
    print(f"to compute per shard: {preview.shard_counts(args.workers)}")
    step = on_ray if args.ray else fan_out
    mode = "Ray tasks" if args.ray else "worker processes"
    for attempt in (1, 2):
        written = step(root, args.workers)
        print(f"run {attempt}: {args.workers} {mode} wrote {written} rows ({sum(written)} in all)")
    print(f"mxl status --assert-in-sync: {assert_in_sync(root, workdir)}")


if __name__ == "__main__":
    main()
