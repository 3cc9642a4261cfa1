"""Fanning an increment out: n shards resolved in n processes, and Ray's cost per task.

1. Sharded resolve ("new" phase of the simple graph: the leaf is empty). The unsharded
   resolve runs in one fresh process; then the n shards run in n fresh processes at
   once (this machine has 2 cores). Each is timed from after its imports (open the store,
   ``resolve_update(..., shard=(i, n))``, collect the samples to compute to Arrow) and
   reports its peak RSS. The constant C is the peak RSS of a worker whose shard is
   nearly empty (shard 0 of 1000): the imports, the store, and the scan's buffers (each
   worker still reads every row group, to find its samples); the target per shard is
   ``(unsharded peak - C) / n + C``.
2. Ray overhead per task: the whole loop (resolve each shard, add a column, write it back)
   as ``run_increment`` with n tasks on a local Ray cluster (started before timing), against
   the same loop shard after shard in one process; (Ray - loop) / n is the cost per task.
   Each side runs on its own copy of the seeded store, in a fresh process.

    python benchmarks/shards.py                     # 1M samples, 2 and 4 shards, Ray at 1M
    python benchmarks/shards.py --10m --shards 2,4 --no-ray
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
import pyarrow as pa

import metaxy_lake as mxl


class Video(
    mxl.Feature,
    spec=mxl.FeatureSpec(key="bench/video", id_columns=["sample_uid"], fields=["audio", "frames"]),
):
    path: str


class Caption(
    mxl.Feature, spec=mxl.FeatureSpec(key="bench/caption", deps=[Video], fields=["caption"])
):
    dim: int


FLOOR_SHARDS = 1000
"""The shard count of the worker that measures the constant: its shard is nearly empty."""


def add_dim(batch: pa.Table) -> pa.Table:
    """The step's "model": the leaf's column, added to the increment's rows."""
    return batch.append_column("dim", pa.repeat(pa.scalar(512, pa.int64()), batch.num_rows))


def run_child(args: argparse.Namespace) -> None:
    """One seeding or one measurement in this (fresh) process."""
    import graphs

    root = Path(args.root)
    if args.child == "seed":
        bench = graphs.BenchGraph(
            "simple", (graphs.Root(Video, ("audio", "frames"), "path"),), Caption
        )
        graphs.seed(mxl.LakeStore(root), bench, args.n, "new")
        harness.report()
        return
    if args.child == "resolve":
        shard = None if args.count == 0 else (args.index, args.count)
        start = time.perf_counter()
        inc = mxl.LakeStore(root).resolve_update(Caption, shard=shard, checkpoint=False)
        rows = inc.todo().collect().to_arrow().num_rows
        harness.report(seconds=time.perf_counter() - start, rows=rows)
        return
    if args.child == "ray":
        import ray

        from metaxy_lake.ray import run_increment

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        with tempfile.TemporaryDirectory(prefix="mxl-bench-warm-") as warm:
            if args.warm:  # the workers import metaxy_lake and this script first
                bench = graphs.BenchGraph(
                    "simple", (graphs.Root(Video, ("audio", "frames"), "path"),), Caption
                )
                graphs.seed(mxl.LakeStore(warm), bench, 1000, "new")
                run_increment(warm, Caption, add_dim, shards=args.count)
            start = time.perf_counter()
            written = run_increment(str(root), Caption, add_dim, shards=args.count)
            harness.report(seconds=time.perf_counter() - start, rows=sum(written))
        return
    start = time.perf_counter()  # "loop": the same work, shard after shard, in this process
    store, rows = mxl.LakeStore(root), 0
    for index in range(args.count):
        inc = store.resolve_update(Caption, shard=(index, args.count))
        todo = inc.todo().collect().to_arrow()
        store.write(Caption, add_dim(todo), write_id=f"{inc.id}-{index}")
        rows += todo.num_rows
    harness.report(seconds=time.perf_counter() - start, rows=rows)


def concurrently(arg_lists: list[list[str]]) -> tuple[float, list[dict[str, Any]]]:
    """Run children at once; the wall time from the first start to the last end, and
    their reports."""
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", *a], stdout=subprocess.PIPE, text=True
        )
        for a in arg_lists
    ]
    reports = []
    for process in running:
        out, _ = process.communicate()
        if process.returncode:
            raise RuntimeError(f"a child failed with exit code {process.returncode}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return time.perf_counter() - start, reports


def sharded(root: str, n: int, counts: list[int], rounds: int) -> list[dict[str, Any]]:
    """The unsharded resolve, then each shard count, alternating, ``rounds`` times."""
    case = ["--root", root, "--n", str(n)]
    floor = [*["resolve", *case], "--index", "0", "--count", str(FLOOR_SHARDS)]
    idle = max(harness.child(__file__, floor)["peak_rss"] for _ in range(rounds))
    results = []
    for count in counts:
        whole, parts = [], []
        for _ in range(rounds):
            whole.append(harness.child(__file__, ["resolve", *case, "--count", "0"]))
            shards = [
                [*["resolve", *case], "--index", str(i), "--count", str(count)]
                for i in range(count)
            ]
            wall, reports = concurrently(shards)
            parts.append({"wall": wall, "reports": reports})
        unsharded_rss = max(r["peak_rss"] for r in whole)
        shard_rss = max(r["peak_rss"] for p in parts for r in p["reports"])
        rows = sum(r["rows"] for r in parts[0]["reports"])
        results.append(
            {
                "n": n,
                "shards": count,
                "unsharded_s": harness.median_of(whole, "seconds"),
                "wall_s": float(sorted(p["wall"] for p in parts)[len(parts) // 2]),
                "slowest_shard_s": float(
                    sorted(max(r["seconds"] for r in p["reports"]) for p in parts)[len(parts) // 2]
                ),
                "unsharded_peak_rss": unsharded_rss,
                "shard_peak_rss": shard_rss,
                "idle_peak_rss": idle,
                "target_rss": (unsharded_rss - idle) / count + idle,
                "same_rows": rows == whole[0]["rows"],
            }
        )
        print(sharded_line(results[-1]), flush=True)
    return results


SHARDED_HEADER = (
    f"{'N':>5} {'shards':>6} {'whole s':>7} {'wall s':>6} {'slowest':>7} "
    f"{'whole GiB':>9} {'shard GiB':>9} {'target':>6} {'C GiB':>5}  met  same"
)


def sharded_line(r: dict[str, Any]) -> str:
    met = r["shard_peak_rss"] <= r["target_rss"]
    return (
        f"{harness.size_label(r['n']):>5} {r['shards']:>6} {r['unsharded_s']:7.2f} "
        f"{r['wall_s']:6.2f} {r['slowest_shard_s']:7.2f} "
        f"{harness.gib(r['unsharded_peak_rss']):>9} {harness.gib(r['shard_peak_rss']):>9} "
        f"{harness.gib(r['target_rss']):>6} {harness.gib(r['idle_peak_rss']):>5}  "
        f"{'yes' if met else 'NO ':3}  {'yes' if r['same_rows'] else 'NO'}"
    )


RAY_SIDES = {"cold": ["ray"], "warm": ["ray", "--warm"], "loop": ["loop"]}
"""Ray on fresh workers (they import metaxy_lake and the script in the timed run), Ray
on workers that ran a small increment first, and the same loop in one process."""


def ray_overhead(root: str, n: int, count: int, rounds: int) -> dict[str, Any]:
    """The loop on Ray with ``count`` tasks against the same loop in one process."""
    sides: dict[str, list[dict[str, Any]]] = {side: [] for side in RAY_SIDES}
    for _ in range(rounds):
        for side, reports in sides.items():
            with tempfile.TemporaryDirectory(prefix="mxl-bench-copy-") as copy:
                shutil.copytree(root, copy, dirs_exist_ok=True)
                case = [*RAY_SIDES[side], "--root", copy, "--count", str(count)]
                reports.append(harness.child(__file__, case))
    seconds = {side: harness.median_of(reports, "seconds") for side, reports in sides.items()}
    return {
        "n": n,
        "tasks": count,
        **{f"{side}_s": s for side, s in seconds.items()},
        "per_task_s": (seconds["warm"] - seconds["loop"]) / count,
        "cold_per_task_s": (seconds["cold"] - seconds["loop"]) / count,
        "same_rows": all(r["rows"] == n for rs in sides.values() for r in rs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1M")
    parser.add_argument("--10m", dest="ten_million", action="store_true", help="10M samples")
    parser.add_argument("--shards", default="2,4")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray overhead")
    parser.add_argument("--ray-tasks", type=int, default=4)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--child", choices=["seed", "resolve", "ray", "loop"], help=argparse.SUPPRESS
    )
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    n = 10_000_000 if args.ten_million else harness.parse_size(args.size)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mxl-bench-") as root:
        harness.child(__file__, ["seed", "--root", root, "--n", str(n)])
        print(SHARDED_HEADER, flush=True)
        counts = [int(c) for c in args.shards.split(",")]
        out["sharded"] = sharded(root, n, counts, args.rounds)
        if not args.no_ray:
            ray = ray_overhead(root, n, args.ray_tasks, args.rounds)
            out["ray"] = ray
            print(
                f"Ray at {harness.size_label(n)}, {ray['tasks']} tasks: warm workers "
                f"{ray['warm_s']:.2f} s, fresh workers {ray['cold_s']:.2f} s, against "
                f"{ray['loop_s']:.2f} s shard after shard in one process: "
                f"{ray['per_task_s']:+.2f} s per task warm, {ray['cold_per_task_s']:+.2f} s "
                f"fresh; same rows: {'yes' if ray['same_rows'] else 'NO'}",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
