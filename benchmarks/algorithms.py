"""resolve_update with xxhash64 record hashes against md5, on the simple graph.

Two stores hold the same rows, one hashing with md5 and one with xxhash64 (Metaxy's
default, computed by polars-hash over Arrow batches inside DuckDB). In alternating fresh
processes, each timed from after the imports: open the store + ``resolve_update`` of the
leaf + collect new, stale and orphaned to Arrow. Prints the medians, peak RSS and the
xxhash64 time as a ratio of md5's; both must find the same number of rows.

    python benchmarks/algorithms.py                   # 1M samples, Delta, stale phase
    python benchmarks/algorithms.py --sizes 100k,1M --phase new
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import harness

SIDES = ("xxhash64", "md5")


def run_child(args: argparse.Namespace) -> None:
    """One seeding or one measurement in this (fresh) process."""
    import graphs

    from metaxy_lake import LakeStore

    bench = graphs.build("simple")
    root = Path(args.root)
    if args.child == "seed":
        for algorithm in SIDES:
            store = LakeStore(root / algorithm, format=args.format, hash_algorithm=algorithm)
            graphs.seed(store, bench, args.n, args.phase)
        harness.report()
        return
    seconds, tables, _ = harness.timed_increment(
        lambda: LakeStore(root / args.child, format=args.format, hash_algorithm=args.child),
        bench.leaf,
        checkpoint=False,  # the hashing of every row is what is compared
    )
    counts = {kind: table.num_rows for kind, table in tables.items()}
    harness.report(seconds=seconds, digest=counts)  # the hashes differ; the rows must not


HEADER = (
    f"{'format':7} {'N':>5} {'phase':6} {'md5 s':>6} {'xxhash64 s':>10} {'ratio':>6} "
    f"{'md5 GiB':>7} {'xxh GiB':>7} {'new':>8} {'stale':>8}  same"
)


def line(r: dict[str, Any]) -> str:
    """One result as a table row."""
    return (
        f"{r['format']:7} {harness.size_label(r['n']):>5} {r['phase']:6} "
        f"{r['md5_s']:6.2f} {r['xxhash64_s']:10.2f} {r['ratio']:5.2f}x "
        f"{harness.gib(r['md5_peak_rss']):>7} {harness.gib(r['xxhash64_peak_rss']):>7} "
        f"{r['digest']['new']:8d} {r['digest']['stale']:8d}  {'yes' if r['same_rows'] else 'NO'}"
    )


def main() -> None:
    parser = harness.sides_parser(__doc__, SIDES, ("new", "stale", "stale1"), "stale")
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    results = harness.run_sides(__file__, args, SIDES, HEADER, line)
    if not all(r["same_rows"] for r in results):
        sys.exit("xxhash64 and md5 found different numbers of rows")


if __name__ == "__main__":
    main()
