"""What every benchmark shares: fresh child processes, their reports, medians, sizes.

A child is this interpreter running a benchmark script with ``--child``; it prints one
JSON object as its last line of output. Timings start after the child's imports.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

SUFFIXES = {"k": 1_000, "M": 1_000_000}


def parse_size(text: str) -> int:
    """``10k`` → 10000, ``1M`` → 1000000, ``2500`` → 2500."""
    if text[-1] in SUFFIXES:
        return int(float(text[:-1]) * SUFFIXES[text[-1]])
    return int(text)


def size_label(n: int) -> str:
    """The inverse of ``parse_size`` for round numbers."""
    for suffix, scale in sorted(SUFFIXES.items(), key=lambda s: -s[1]):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)


def peak_rss_bytes() -> int:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def report(**values: Any) -> None:
    """A child's last line: its measurements, with its peak RSS."""
    print(json.dumps({**values, "peak_rss": peak_rss_bytes()}), flush=True)


def child(script: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``script --child args...`` in a fresh interpreter; return its report."""
    done = subprocess.run(
        [sys.executable, script, "--child", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_of(runs: Sequence[dict[str, Any]], key: str) -> float:
    """The median of one measurement over rounds."""
    return float(statistics.median(r[key] for r in runs))


def alternate(
    script: str, case: Sequence[str], sides: Sequence[str], rounds: int
) -> list[list[dict[str, Any]]]:
    """Run the children of every side in turn, ``rounds`` times each: their reports."""
    reports: list[list[dict[str, Any]]] = [[] for _ in sides]
    for _ in range(rounds):
        for side, out in zip(sides, reports, strict=True):
            out.append(child(script, [side, *case]))
    return reports


def compared(
    ours: Sequence[dict[str, Any]], base: Sequence[dict[str, Any]], names: tuple[str, str]
) -> dict[str, Any]:
    """Medians, the ratio, peak RSS of each side, and whether all found the same rows."""
    ours_s, base_s = median_of(ours, "seconds"), median_of(base, "seconds")
    return {
        f"{names[0]}_s": ours_s,
        f"{names[1]}_s": base_s,
        "ratio": ours_s / base_s,
        f"{names[0]}_peak_rss": max(r["peak_rss"] for r in ours),
        f"{names[1]}_peak_rss": max(r["peak_rss"] for r in base),
        "same_rows": all(r["digest"] == base[0]["digest"] for r in [*ours, *base]),
    }


def gib(n: float) -> str:
    """Bytes as GiB text."""
    return f"{n / 2**30:.2f}"


CHECKPOINTS = "_catalog/checkpoints"
_SEEDED = "seeded-checkpoints.json"


def keep_checkpoints(root: Any) -> None:
    """Remember the checkpoint files the seeding left under a local store ``root``."""
    from pathlib import Path

    base = Path(root)
    files = [str(p.relative_to(base)) for p in (base / CHECKPOINTS).rglob("*") if p.is_file()]
    (base / _SEEDED).write_text(json.dumps(files))


def restore_checkpoints(root: Any) -> None:
    """Remove the checkpoint files earlier rounds recorded, keeping the seeding's."""
    from pathlib import Path

    base = Path(root)
    if not (base / _SEEDED).exists():
        return
    seeded = set(json.loads((base / _SEEDED).read_text()))
    for path in (base / CHECKPOINTS).rglob("*"):
        if path.is_file() and str(path.relative_to(base)) not in seeded:
            path.unlink()


def timed_increment(
    open_store: Callable[[], Any], leaf: Any, checkpoint: bool = True
) -> tuple[float, dict[str, Any], Any]:
    """Seconds to open a store, resolve ``leaf`` and collect the increment; its tables,
    and the increment."""
    import time

    start = time.perf_counter()
    increment = open_store().resolve_update(leaf, checkpoint=checkpoint)
    tables = increment_tables(increment)
    return time.perf_counter() - start, tables, increment


def increment_tables(increment: Any) -> dict[str, Any]:
    """An increment's new, stale and orphaned rows collected to Arrow."""
    kinds = ("new", "stale", "orphaned")
    return {kind: getattr(increment, kind).collect().to_arrow() for kind in kinds}


def digest(tables: dict[str, Any], key: str = "sample_uid") -> dict[str, list[int]]:
    """Row count and an order-free fingerprint of the new and stale rows (ids: ``key``)."""
    import duckdb

    con = duckdb.connect()
    out = {}
    for kind in ("new", "stale"):
        con.register("rows", tables[kind])
        changed = "metaxy_changed_fields::VARCHAR" if kind == "stale" else "''"
        row = con.execute(
            f"SELECT count(*), coalesce(bit_xor(hash({key}, metaxy_provenance, "
            "metaxy_data_version, metaxy_provenance_by_field::VARCHAR, "
            f"metaxy_upstream::VARCHAR, {changed})), 0) FROM rows"
        ).fetchall()[0]
        out[kind] = [int(row[0]), int(row[1])]
    out["orphaned"] = [tables["orphaned"].num_rows, 0]
    return out


def sides_parser(doc: str, sides: Sequence[str], phases: Sequence[str], phase: str) -> Any:
    """The command line of a benchmark timing two sides of one seeded case.

    Its visible options: ``--formats``, ``--sizes``, ``--phase``, ``--rounds``, ``--json``;
    the hidden ones carry a child's case.
    """
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--formats", default="delta")
    parser.add_argument("--sizes", default="1M")
    parser.add_argument("--phase", default=phase, choices=list(phases))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", choices=["seed", *sides], help=argparse.SUPPRESS)
    for hidden in ("--format", "--root"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    return parser


def run_sides(
    script: str, args: Any, sides: tuple[str, str], header: str, line: Any
) -> list[dict[str, Any]]:
    """Per format and size: seed a case in a fresh process, time both sides alternately.

    Prints ``header`` and a ``line`` per result, writes ``--json``; each result holds the
    medians, the ratio (first side over second), peak RSS, whether both found the same
    rows, and the first side's ``digest``.
    """
    import tempfile

    results = []
    print(header, flush=True)
    for fmt in args.formats.split(","):
        for size in args.sizes.split(","):
            n = parse_size(size)
            with tempfile.TemporaryDirectory(prefix="mxl-bench-") as tmp:
                case = ["--format", fmt, "--n", str(n), "--phase", args.phase, "--root", tmp]
                child(script, ["seed", *case])
                first, second = alternate(script, case, sides, args.rounds)
            result = {
                "format": fmt,
                "n": n,
                "phase": args.phase,
                **compared(first, second, sides),
                "digest": first[0]["digest"],
                "rounds": args.rounds,
            }
            results.append(result)
            print(line(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results
