"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_sharded_pipeline_splits_the_work_and_then_has_nothing_to_do(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "sharded_pipeline.py"), str(tmp_path / "store")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.splitlines()
    first = out[0]
    assert first.endswith("total 30")
    assert "[0, 0, 0]" not in first  # every shard had work
    assert out[1] == "run 2: rows written per worker [0, 0, 0], total 0"
