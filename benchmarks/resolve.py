"""resolve_update against its full scan and the hand-written floor.

See docs/design.md, Tests and benchmarks.

For each format, graph, size and phase: seed a store in a fresh process, then run, in
alternating fresh processes, ``open store + resolve_update + collect new and stale to
Arrow`` (the default resolve, which starts from the checkpoint the seeding left where it
can), the same with ``checkpoint=False`` (the full scan) and the floor query of
``floor.py`` on the same files, timed from after the imports. Prints medians, peak RSS,
our time as a ratio of the full scan and of the floor, the path taken, checks that all
found the same rows, and can write JSON.

Phases (``graphs.seed``): ``new``, ``stale`` (10% changed), ``stale1`` (1%), and
``rewrite`` (the whole root appended again with 10% changed: no checkpoint can help;
its floor is the lean ``arg_max`` form where ``floor.LEAN`` has one).

    python benchmarks/resolve.py                      # Delta, both graphs, 10k-1M
    python benchmarks/resolve.py --10m --graphs simple --phases stale,stale1
    python benchmarks/resolve.py --graphs simple --sizes 1M --phases rewrite
    python benchmarks/resolve.py --formats delta,iceberg,lance --sizes 100k
    python benchmarks/resolve.py --graphs expansion --sizes 100k --phases new,stale
    python benchmarks/resolve.py --graphs aggregation --sizes 1M --phases new,stale
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness

PHASES = ("new", "stale", "stale1", "rewrite")
SIDES = ("ours", "full", "floor")
TARGET_RATIO = 1.3


def run_child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process."""
    import graphs

    root = Path(args.root)
    if args.child == "seed":
        from metaxy_lake import LakeStore

        bench = graphs.build(args.graph)
        graphs.seed(LakeStore(root, format=args.format), bench, args.n, args.phase)
        harness.keep_checkpoints(root)
        harness.report()
    elif args.child in ("ours", "full"):
        from metaxy_lake import LakeStore

        harness.restore_checkpoints(root)  # every round resolves as the first one did
        bench = graphs.build(args.graph)
        seconds, tables, increment = harness.timed_increment(
            lambda: LakeStore(root, format=args.format),
            bench.leaf,
            checkpoint=args.child == "ours",
        )
        digest = harness.digest(tables, bench.key)
        harness.report(seconds=seconds, digest=digest, path=increment.path)
    elif args.child == "floor":
        import floor

        lean = args.phase == "rewrite" and args.graph in floor.LEAN
        start = time.perf_counter()
        tables = floor.run(args.graph, args.format, root, lean=lean)
        seconds = time.perf_counter() - start
        key = graphs.build(args.graph).key
        harness.report(seconds=seconds, digest=harness.digest(tables, key))


def measure(fmt: str, graph: str, n: int, phase: str, rounds: int) -> dict[str, Any]:
    """Seed one case, then time ours, the full scan and the floor in alternating processes."""
    with tempfile.TemporaryDirectory(prefix="mxl-bench-") as tmp:
        case = ["--format", fmt, "--graph", graph, "--n", str(n), "--phase", phase]
        case += ["--root", tmp]
        started = time.perf_counter()
        harness.child(__file__, ["seed", *case])
        seeded = time.perf_counter() - started
        ours, full, floor = harness.alternate(__file__, case, SIDES, rounds)
    vs_full = harness.compared(ours, full, ("ours", "full"))
    return {
        "format": fmt,
        "graph": graph,
        "n": n,
        "phase": phase,
        **harness.compared(ours, floor, ("ours", "floor")),
        "full_s": vs_full["full_s"],
        "full_peak_rss": vs_full["full_peak_rss"],
        "vs_full": vs_full["ratio"],
        "same_rows": vs_full["same_rows"] and harness.compared(full, floor, SIDES[1:])["same_rows"],
        "path": ",".join(sorted({r["path"] for r in ours})),
        "new": ours[0]["digest"]["new"][0],
        "stale": ours[0]["digest"]["stale"][0],
        "seed_s": seeded,
        "rounds": rounds,
    }


HEADER = (
    f"{'format':7} {'graph':11} {'N':>5} {'phase':7} {'ours s':>7} {'full s':>7} "
    f"{'floor s':>7} {'/full':>6} {'/floor':>6} {'RSS GiB':>7} {'full':>5} {'floor':>5} "
    f"{'path':10} {'new':>8} {'stale':>8}  same"
)


def line(r: dict[str, Any]) -> str:
    """One result as a table row."""
    return (
        f"{r['format']:7} {r['graph']:11} {harness.size_label(r['n']):>5} {r['phase']:7} "
        f"{r['ours_s']:7.2f} {r['full_s']:7.2f} {r['floor_s']:7.2f} {r['vs_full']:5.2f}x "
        f"{r['ratio']:5.2f}x {harness.gib(r['ours_peak_rss']):>7} "
        f"{harness.gib(r['full_peak_rss']):>5} {harness.gib(r['floor_peak_rss']):>5} "
        f"{r['path']:10} {r['new']:8d} {r['stale']:8d}  {'yes' if r['same_rows'] else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="delta")
    parser.add_argument("--graphs", default="simple,wide")
    parser.add_argument("--sizes", default="10k,100k,1M")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--10m", dest="ten_m", action="store_true", help="also run 10M")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", choices=["seed", *SIDES], help=argparse.SUPPRESS)
    for hidden in ("--format", "--graph", "--phase", "--root"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return

    sizes = [harness.parse_size(s) for s in args.sizes.split(",")]
    if args.ten_m:
        sizes.append(10_000_000)
    results = []
    print(HEADER, flush=True)
    for fmt in args.formats.split(","):
        for graph in args.graphs.split(","):
            for n in sizes:
                for phase in args.phases.split(","):
                    result = measure(fmt, graph, n, phase, args.rounds)
                    results.append(result)
                    print(line(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if not all(r["same_rows"] for r in results):
        sys.exit("ours and the floor found different rows")


if __name__ == "__main__":
    main()
