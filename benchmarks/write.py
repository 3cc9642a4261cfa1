"""``LakeStore.write`` of root rows against a bare ``write_deltalake`` of the same table.

Each round runs both in fresh processes on fresh directories; the Arrow table (ids, a
path and per-field provenance, as a pipeline hands them over) is built before the clock
starts. Ours validates, stamps the system columns (hashes, maps, timestamps), creates
the table with its properties and commits; the bare write only writes what it is given.

    python benchmarks/write.py [--sizes 1M] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import harness


def run_child(args: argparse.Namespace) -> None:
    """One timed write in this (fresh) process."""
    import graphs

    bench = graphs.build("simple")
    video = bench.roots[0]
    table = graphs.root_rows(video, 0, args.n)
    if args.child == "ours":
        import metaxy_lake.formats.delta  # noqa: F401  (imported before the clock, as the bare side's)
        from metaxy_lake import LakeStore

        start = time.perf_counter()
        LakeStore(args.root).write(video.feature, table)
    else:
        from deltalake import write_deltalake

        start = time.perf_counter()
        write_deltalake(args.root, table)
    harness.report(seconds=time.perf_counter() - start)


def measure(n: int, rounds: int) -> dict[str, Any]:
    """Alternate ours and the bare write, each in a fresh process and directory."""
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": []}
    for _ in range(rounds):
        for kind in runs:
            with tempfile.TemporaryDirectory(prefix="mxl-write-") as tmp:
                runs[kind].append(harness.child(__file__, [kind, "--n", str(n), "--root", tmp]))
    ours_s = harness.median_of(runs["ours"], "seconds")
    bare_s = harness.median_of(runs["bare"], "seconds")
    return {
        "n": n,
        "ours_s": ours_s,
        "bare_s": bare_s,
        "ratio": ours_s / bare_s,
        "ours_peak_rss": max(r["peak_rss"] for r in runs["ours"]),
        "bare_peak_rss": max(r["peak_rss"] for r in runs["bare"]),
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", choices=["ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    print(f"{'N':>5} {'ours s':>7} {'bare s':>7} {'ratio':>6} {'RSS GiB':>7} {'bare':>6}")
    results = []
    for n in (harness.parse_size(s) for s in args.sizes.split(",")):
        r = measure(n, args.rounds)
        results.append(r)
        print(
            f"{harness.size_label(n):>5} {r['ours_s']:7.2f} {r['bare_s']:7.2f} "
            f"{r['ratio']:5.2f}x {harness.gib(r['ours_peak_rss']):>7} "
            f"{harness.gib(r['bare_peak_rss']):>6}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
