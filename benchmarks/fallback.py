"""resolve_update through a dev → prod fallback chain against one store with the same rows.

Prod holds the simple graph's root and leaf, up to date; dev holds 1% of the root's
samples with new audio provenance ("stale1") and no leaf. The baseline is one store
holding the same rows (the root, then the same 1% appended, and the leaf). In alternating
fresh processes, each timed from after the imports: open the store(s) + ``resolve_update``
of the leaf + collect new, stale and orphaned to Arrow. Prints the medians, peak RSS and
the chain's time as a ratio of the single store's; both must find the same rows.

    python benchmarks/fallback.py                 # 1M samples, Delta, 3 rounds
    python benchmarks/fallback.py --sizes 100k,1M --formats delta,lance --phase stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import harness

TARGET_RATIO = 1.3
SIDES = ("chain", "single")


def _stores(kind: str, root: Path, fmt: str) -> tuple[Any, Any | None]:
    """The store the benchmark resolves in, and the prod it falls back to (chain only)."""
    from metaxy_lake import LakeStore

    if kind == "single":
        return LakeStore(root / "single", format=fmt), None
    prod = LakeStore(root / "prod", format=fmt, name="prod")
    return LakeStore(root / "dev", format=fmt, name="dev", fallback=[prod]), prod


def run_child(args: argparse.Namespace) -> None:
    """One seeding or one measurement in this (fresh) process."""
    import graphs

    bench = graphs.build("simple")
    root = Path(args.root)
    if args.child == "seed":
        single, _ = _stores("single", root, args.format)
        graphs.seed(single, bench, args.n, args.phase)
        dev, prod = _stores("chain", root, args.format)
        graphs.seed(prod, bench, args.n, args.phase, changes_to=dev)
        harness.report()
        return
    seconds, tables, _ = harness.timed_increment(
        lambda: _stores(args.child, root, args.format)[0],
        bench.leaf,
        checkpoint=False,  # the overlay's cost over a full scan is what is compared
    )
    harness.report(seconds=seconds, digest=harness.digest(tables))


HEADER = (
    f"{'format':7} {'N':>5} {'phase':6} {'single s':>8} {'chain s':>7} {'ratio':>6} "
    f"{'RSS GiB':>7} {'chain':>6} {'stale':>8}  same"
)


def line(r: dict[str, Any]) -> str:
    """One result as a table row."""
    return (
        f"{r['format']:7} {harness.size_label(r['n']):>5} {r['phase']:6} "
        f"{r['single_s']:8.2f} {r['chain_s']:7.2f} {r['ratio']:5.2f}x "
        f"{harness.gib(r['single_peak_rss']):>7} {harness.gib(r['chain_peak_rss']):>6} "
        f"{r['digest']['stale'][0]:8d}  {'yes' if r['same_rows'] else 'NO'}"
    )


def main() -> None:
    parser = harness.sides_parser(__doc__, SIDES, ("stale", "stale1"), "stale1")
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    results = harness.run_sides(__file__, args, SIDES, HEADER, line)
    if not all(r["same_rows"] for r in results):
        sys.exit("the chain and the single store found different rows")
    slow = [r for r in results if r["ratio"] > TARGET_RATIO]
    if slow:
        print(f"above the {TARGET_RATIO}x target: {', '.join(line(r) for r in slow)}")


if __name__ == "__main__":
    main()
