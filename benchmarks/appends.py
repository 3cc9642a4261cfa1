"""Many small ``LakeStore.write`` calls to one table with history, against bare appends.

What a serverless worker pays per commit: open the table (on Delta, with the size check of
its last commit file), read the newest commits' stamps (the clock floor: a later commit
is live whatever the writers' clocks), validate, stamp, commit, find the commit's version.
The bare side appends the same root rows with the format's own call on a table of its own.
Each side runs in a fresh process on a fresh directory: ``--warm`` commits first (so the
floor reads a full window of history), then ``--writes`` timed commits of ``--rows`` rows.

    python benchmarks/appends.py [--formats delta] [--writes 40] [--rows 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import harness

SIDES = ("ours", "bare")


def bare_append(fmt: str, root: str) -> Any:
    """The format's own append of an Arrow table at ``root`` (a table of its own)."""
    if fmt == "delta":
        from deltalake import write_deltalake

        return lambda table: write_deltalake(root, table, mode="append")
    if fmt == "lance":
        import lance

        return lambda table: lance.write_dataset(table, root, mode="append")
    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog("bench", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}")
    catalog.create_namespace("bench")
    made: dict[str, Any] = {}

    def append(table: Any) -> None:
        if "table" not in made:
            made["table"] = catalog.create_table("bench.rows", schema=table.schema)
        made["table"].append(table)

    return append


def run_child(args: argparse.Namespace) -> None:
    """Warm-up commits, then the timed ones, in this (fresh) process and directory."""
    with tempfile.TemporaryDirectory(prefix="mxl-appends-") as root:
        harness.report(seconds=_timed_appends(args, root))


def _timed_appends(args: argparse.Namespace, root: str) -> float:
    """The median time of the timed commits at ``root``."""
    import graphs

    bench = graphs.build("simple")
    video = bench.roots[0]
    batches = [
        graphs.root_rows(video, i * args.rows, (i + 1) * args.rows)
        for i in range(args.warm + args.writes)
    ]
    if args.child == "ours":
        from metaxy_lake import LakeStore

        store = LakeStore(root, format=args.format)

        def write(table: Any) -> Any:
            return store.write(video.feature, table)
    else:
        write = bare_append(args.format, root)
    for table in batches[: args.warm]:
        write(table)
    seconds = []
    for table in batches[args.warm :]:
        start = time.perf_counter()
        write(table)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def measure(fmt: str, args: argparse.Namespace) -> dict[str, Any]:
    """Alternate ours and the bare appends, each in a fresh process and directory."""
    shape = ["--format", fmt, "--rows", str(args.rows)]
    shape += ["--warm", str(args.warm), "--writes", str(args.writes)]
    ours, bare = harness.alternate(__file__, shape, SIDES, args.rounds)
    ours_s, bare_s = harness.median_of(ours, "seconds"), harness.median_of(bare, "seconds")
    return {"format": fmt, "ours_s": ours_s, "bare_s": bare_s, "ratio": ours_s / bare_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="delta")
    parser.add_argument("--writes", type=int, default=40)
    parser.add_argument("--warm", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    print(f"{'format':>8} {'ours ms':>8} {'bare ms':>8} {'ratio':>6}  (median per commit)")
    results = []
    for fmt in args.formats.split(","):
        r = measure(fmt, args)
        results.append(r)
        print(
            f"{fmt:>8} {r['ours_s'] * 1000:8.1f} {r['bare_s'] * 1000:8.1f} {r['ratio']:5.2f}x",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
