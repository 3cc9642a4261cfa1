"""The examples run as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from s3server import S3Server

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    """An example's output, run as its README says (``python examples/<script> ...``)."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    ).stdout


def _fanout(*args: str, env: dict[str, str] | None = None) -> list[str]:
    lines = _run("serverless_fanout.py", *args, env=env).splitlines()
    return [line for line in lines if not line.startswith("(")]  # Ray's own log lines


def _check_fanout(out: list[str], mode: str) -> None:
    per_shard = out[1].removeprefix("to compute per shard: ")
    assert out[0].endswith(": 1000 videos") and "0" not in per_shard.strip("[]").split(", ")
    assert out[2] == f"run 1: 4 {mode} wrote {per_shard} rows (1000 in all)"
    assert out[3] == f"run 2: 4 {mode} wrote [0, 0, 0, 0] rows (0 in all)"
    assert out[4] == "mxl status --assert-in-sync: in sync"


def test_serverless_fanout_workers_share_nothing_but_the_store(tmp_path: Path) -> None:
    out = _fanout(str(tmp_path))
    assert out[0] == f"store {tmp_path / 'store'}: 1000 videos"
    _check_fanout(out, "worker processes")


def test_serverless_fanout_on_ray(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install '.[ray]'")
    _check_fanout(_fanout(str(tmp_path), "--ray"), "Ray tasks")


@pytest.mark.slow  # ~17 s; the Ray suite and the fallback example cover S3 by default
def test_serverless_fanout_on_s3(tmp_path: Path, s3_server: S3Server) -> None:
    options = s3_server.options()
    env = {
        "AWS_ENDPOINT_URL": s3_server.endpoint,
        "AWS_ACCESS_KEY_ID": options["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": options["secret_access_key"],
        "AWS_REGION": "us-east-1",
    }
    out = _fanout(str(tmp_path), "--bucket", s3_server.bucket, env=env)
    assert out[0].startswith(f"store s3://{s3_server.bucket}/serverless-fanout/")
    _check_fanout(out, "worker processes")


def _fallback_example(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    return _run("dev_prod_fallback/run.py", str(tmp_path), *args, env=env).splitlines()


def test_dev_prod_fallback_recomputes_a_tenth_and_leaves_prod_untouched(tmp_path: Path) -> None:
    out = _fallback_example(tmp_path)
    readme = (EXAMPLES / "dev_prod_fallback" / "README.md").read_text()
    assert out[0] == f"prod ({tmp_path / 'prod'}): 50 videos through Crop, Faces and SpeechToText"
    for line in out[1:]:  # the rest is printed as the README shows it
        assert f"\n{line}\n" in readme
    assert (tmp_path / "dev" / "features" / "example__crop").is_dir()
    assert not (tmp_path / "dev" / "features" / "example__faces").exists()


def test_dev_prod_fallback_with_prod_on_s3(tmp_path: Path, s3_server: S3Server) -> None:
    options = s3_server.options()
    out = _fallback_example(
        tmp_path,
        "--bucket",
        s3_server.bucket,
        env={
            "AWS_ENDPOINT_URL": s3_server.endpoint,
            "AWS_ACCESS_KEY_ID": options["access_key_id"],
            "AWS_SECRET_ACCESS_KEY": options["secret_access_key"],
            "AWS_REGION": options["region"],
        },
    )
    assert out[0].startswith(f"prod (s3://{s3_server.bucket}/dev-prod-example/")
    assert out[-1] == "prod: table versions unchanged: True; nothing to do in prod: True"
    assert not (tmp_path / "prod").exists()


def test_audit_traces_round_one_and_explains_round_three(tmp_path: Path) -> None:
    out = _run("audit/run.py", str(tmp_path))
    readme = (EXAMPLES / "audit" / "README.md").read_text()
    varying = re.compile(r"\d\d:\d\d:\d\d[.\d]*|\b[0-9a-f]{8,16}\b|\d{4}-\d\d-\d\dT")
    for line in out.splitlines():  # as the README shows it, but for times, ids and hashes
        shape = varying.sub("<v>", line)
        assert any(varying.sub("<v>", r) == shape for r in readme.splitlines()), line
    assert "depth 2  example/video" in out and "provenance audio=a-video_0001" in out
    assert "example/crop.audio: upstream_data of example/video.audio, a-v2 -> a-v3" in out
    assert "example/speech_to_text  stale ['transcript']" in out


def test_video_clips_expands_aggregates_and_then_has_nothing_to_do(tmp_path: Path) -> None:
    out = _run("video_clips/run.py", str(tmp_path))
    readme = (EXAMPLES / "video_clips" / "README.md").read_text()
    shown = readme.split("It prints:\n\n```text\n", 1)[1].split("```", 1)[0]
    assert out == shown


def test_hourly_runs_resolve_from_checkpoints(tmp_path: Path) -> None:
    out = _run("hourly_runs/run.py", str(tmp_path), "--samples", "2000")
    lines = [re.sub(r" \(\d+\.\d\d s\)$", "", line) for line in out.splitlines()]
    assert lines == [
        "hour 0: full scan (no usable checkpoint); new 2,000, stale 0",
        "hour 1: full scan (too many candidates, about 4,030); new 10, stale 20",
        "hour 2: checkpoint, 60 candidates checked; new 10, stale 21",
        "hour 3: checkpoint, 62 candidates checked; new 10, stale 21",
        "hour 4, after a compaction: full scan (no usable checkpoint); new 0, stale 21",
        "hour 5: checkpoint, 42 candidates checked; new 0, stale 21",
        "hour 6, nothing changed: checkpoint, 21 candidates checked; new 0, stale 0",
    ]
