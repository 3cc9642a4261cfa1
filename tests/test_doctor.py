"""``mxl doctor`` on a store with a damaged Delta commit: listed, exit 1; repaired, exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import root_rows

import metaxy_lake as mxl
from metaxy_lake.cli.app import main

MXL = str(Path(sys.executable).parent / "mxl")


def doctor_json(capsys: pytest.CaptureFixture[str], root: Path, *args: str, code: int) -> dict:
    """``mxl --output json doctor`` in this process (a subprocess costs ~4 s of imports)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["--root", str(root), "doctor", "--output", "json", *args])
    assert done.value.code == code
    document: dict = json.loads(capsys.readouterr().out)  # one JSON document
    return document


def test_mxl_doctor_lists_then_repairs(
    tmp_path: Path, graph: mxl.FeatureGraph, capsys: pytest.CaptureFixture[str]
) -> None:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        pass

    root = tmp_path / "store"
    assert doctor_json(capsys, root, code=0) == {"damage": [], "remaining": 0}
    assert not root.exists()  # looking creates nothing
    store = mxl.LakeStore(str(root))
    store.write(Root, root_rows({"s1": {"a": "1"}}))
    store.write(Root, root_rows({"s2": {"a": "2"}}))
    log = root / "features" / "root" / "_delta_log"
    damaged = max(log.glob("*.json"))
    damaged.write_bytes(b"")

    text = subprocess.run(
        [MXL, "doctor", "--root", str(root)], capture_output=True, text=True, timeout=120
    )
    assert text.returncode == 1, text.stderr
    assert "damaged_commit" in text.stdout and f"{damaged}: table" in text.stdout
    document = doctor_json(capsys, root, code=1)
    (item,) = document["damage"]
    assert item["kind"] == "damaged_commit" and item["path"] == str(damaged)
    assert document["remaining"] == 1 and damaged.exists()

    repaired = doctor_json(capsys, root, "--repair", code=0)
    (item,) = repaired["damage"]
    assert item["repaired"] is not None and Path(item["repaired"]).parent == log / "_damaged"
    assert not damaged.exists() and Path(item["repaired"]).read_bytes() == b""
    assert doctor_json(capsys, root, code=0)["remaining"] == 0
