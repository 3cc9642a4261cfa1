"""``mxl`` run as a user runs it: a subprocess in a project directory made by ``mxl init``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MXL = str(Path(sys.executable).parent / "mxl")

TOUR = Path(__file__).resolve().parents[1] / "examples" / "cli_tour"

# what the API says, to hold the CLI's numbers against
COUNTS = """\
import json
import metaxy_lake as mxl
import pipeline

store = mxl.open_store()
print(json.dumps({str(f.key()): store.resolve_update(f).counts() for f in pipeline.FEATURES}))
"""
BUMPED = {"CROP_AUDIO": "2"}


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("METAXY_LAKE_CONFIG", "CROP_AUDIO")}
    return {**env, **(extra or {})}


def mxl(
    cwd: Path, *args: str, code: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``mxl`` in ``cwd``; assert its exit code."""
    done = subprocess.run(
        [MXL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=environment(env)
    )
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    return done


def mxl_json(cwd: Path, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
    """Run ``mxl --output json``; its stdout is one JSON document."""
    return json.loads(mxl(cwd, *args, "--output", "json", code=code, env=env).stdout)


def python(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment(env),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def listing(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its size."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The tour's project (examples/cli_tour) made by ``mxl init``, and a counts script."""
    for name in ("pipeline.py", "compute.py"):
        shutil.copy(TOUR / name, tmp_path / name)
    (tmp_path / "counts.py").write_text(COUNTS)
    mxl(tmp_path, "init", "--features", "pipeline")
    return tmp_path


def test_init_writes_a_config_and_refuses_to_overwrite(project: Path) -> None:
    config = (project / "metaxy_lake.toml").read_text()
    assert 'features = ["pipeline"]' in config and "[stores.local]" in config
    failed = mxl(project, "init", code=2)
    assert failed.stderr.startswith("error: ") and failed.stderr.count("\n") == 1
    assert (project / "metaxy_lake.toml").read_text() == config


def test_push_diff_status_plan_round_trip(project: Path) -> None:
    first = mxl_json(project, "graph", "push", "-m", "first")
    assert first["new"] is True
    assert sorted(first["diff"]["added"]) == [
        "example/crop",
        "example/faces",
        "example/speech_to_text",
        "example/video",
    ]
    again = mxl_json(project, "graph", "push")
    assert again == {"snapshot_version": first["snapshot_version"], "new": False}
    assert mxl_json(project, "graph", "diff")["diff"]["features"] == []

    changes = mxl_json(project, "graph", "diff", env=BUMPED)["diff"]
    assert changes["changed"] == ["example/crop"]
    assert changes["downstream"] == ["example/speech_to_text"]
    assert changes["added"] == changes["removed"] == []
    (crop,) = [f for f in changes["features"] if f["feature"] == "example/crop"]
    assert [f["field"] for f in crop["fields"]] == ["audio"]
    assert crop["fields"][0]["code_version"] == {"old": "1", "new": "2"}
    text = mxl(project, "graph", "diff", env=BUMPED).stdout
    assert "example/crop" in text and "example/faces" not in text

    second = mxl_json(project, "graph", "push", env=BUMPED)
    assert second["new"] is True and second["diff"]["changed"] == ["example/crop"]
    history = mxl_json(project, "graph", "history")["snapshots"]
    assert [h["version"] for h in history] == [
        second["snapshot_version"],
        first["snapshot_version"],
    ]
    assert history[1]["message"] == "first"
    # diff between two recorded snapshots, by version prefix
    old, new = first["snapshot_version"][:12], second["snapshot_version"][:12]
    assert mxl_json(project, "graph", "diff", old, new)["diff"]["changed"] == ["example/crop"]

    python(project, "compute.py", "videos")
    expected = json.loads(python(project, "counts.py", env=BUMPED))
    status = mxl_json(project, "status", env=BUMPED)
    assert status["in_sync"] is False
    for row in status["features"]:
        assert {k: row[k] for k in ("new", "stale", "orphaned")} == expected[row["feature"]]
    assert {r["feature"]: r["live"] for r in status["features"]}["example/video"] == 6
    # the text carries the same numbers
    text = mxl(project, "status", env=BUMPED).stdout
    crop_line = next(line for line in text.splitlines() if "example/crop" in line)
    assert re.findall(r"\d+", crop_line) == ["0", "6", "0", "0"]

    plan = mxl_json(project, "plan", "example/crop", "--limit", "4", env=BUMPED)
    assert plan["counts"] == expected["example/crop"]
    assert [s["status"] for s in plan["samples"]] == ["new"] * 4
    assert [s["sample_uid"] for s in plan["samples"]] == ["v0", "v1", "v2", "v3"]
    # status left a checkpoint: its 6 pending samples are the whole table, too large a share
    assert plan["path"] == "full scan (too many candidates, about 6)"

    mxl(project, "status", "--assert-in-sync", code=1, env=BUMPED)
    python(project, "compute.py", env=BUMPED)
    assert mxl(project, "status", "--assert-in-sync", env=BUMPED).returncode == 0
    # the old code sees the new crops as stale: its audio version differs
    assert mxl_json(project, "status")["in_sync"] is False


def test_reads_history_describe_and_delete(project: Path) -> None:
    python(project, "compute.py", "videos")
    python(project, "compute.py")
    rows = mxl_json(project, "read", "example/crop", "--where", "sample_uid IN ('v1', 'v2')")
    assert sorted(r["sample_uid"] for r in rows["rows"]) == ["v1", "v2"]
    assert rows["rows"][0]["metaxy_provenance_by_field"].keys() == {"frames", "audio"}
    narrow = mxl_json(project, "read", "example/crop", "--columns", "sample_uid", "--limit", "2")
    assert [list(r) for r in narrow["rows"]] == [["sample_uid"], ["sample_uid"]]
    commit = mxl_json(project, "history", "example/crop")["commits"][0]
    assert commit["operation"] == "write" and commit["rows"] == 6
    described = mxl_json(project, "describe", "example/crop")
    assert described["live"] == 6 and described["last_commit"]["version"] == commit["version"]
    assert [f["field"] for f in described["fields"]] == ["audio", "frames"]
    features = mxl_json(project, "list")["features"]
    assert {f["feature"]: f["deps"] for f in features}["example/faces"] == ["example/crop"]

    dry = mxl_json(project, "delete", "example/crop", "--where", "sample_uid = 'v1'", "--dry-run")
    assert dry == {"matches": 1, "deleted": 0}
    done = mxl_json(project, "delete", "example/crop", "--where", "sample_uid = 'v1'", "--yes")
    assert done["deleted"] == 1
    status = {r["feature"]: r for r in mxl_json(project, "status")["features"]}
    assert status["example/crop"]["live"] == 5 and status["example/crop"]["new"] == 1
    # how each resolve went: a small table's change is too large a share for candidates
    assert status["example/crop"]["path"].startswith("full scan (too many candidates, about ")
    assert status["example/video"]["path"] == "full scan (a root)"


def test_global_options_before_or_after_the_command(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "adhoc"
    before = mxl_json(project, "--root", str(other), "--table-format", "lance", "graph", "push")
    after = json.loads(
        mxl(
            project, "graph", "push", "--root", str(other), "--output=json", "--table-format=lance"
        ).stdout
    )
    assert before["new"] is True and after["new"] is False
    assert (other / "_catalog" / "snapshots").is_dir()
    assert not (project / ".metaxy").exists()


def test_a_config_given_by_path_sets_the_graph_hash_length(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = project / "metaxy_lake.toml"
    config.write_text(config.read_text().replace("# hash_length = 64", "hash_length = 8"))
    here = mxl_json(project, "list")["features"]
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # no configuration here or above
    there = mxl_json(elsewhere, "--config", str(config), "list")["features"]
    assert {len(f["version"]) for f in here} == {8}
    assert there == here  # the file given, not one found from the working directory


def test_render_mermaid_and_dot_structure(project: Path) -> None:
    mermaid = mxl(project, "graph", "render", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart")
    assert len(re.findall(r"-->", mermaid)) == 3  # video→crop, crop→faces, crop→speech
    dot = mxl(project, "graph", "render", "--format", "dot").stdout
    assert dot.lstrip().startswith("digraph") and dot.count("->") == 3
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=dot, text=True, check=True, capture_output=True)
    focused = mxl_json(project, "graph", "render", "--feature", "example/crop", "--down", "0")
    assert sorted(f["key"] for f in focused["graph"]["features"]) == [
        "example/crop",
        "example/video",
    ]
    mxl(project, "graph", "push")
    marked = mxl(project, "graph", "diff", "--format", "mermaid", env=BUMPED).stdout
    assert "example/crop" in marked and "classDef" in marked


BAD_INPUTS = [
    (("status", "--store", "nowhere"), 2, "nowhere"),
    (("plan", "example/nothing"), 1, "example/nothing"),
    (("read", "example/crop", "--where", "sample_uid = "), 1, "does not parse"),
    (("read", "example/crop", "--where", "length(sample_uid) > 1"), 1, "length"),
    (("delete", "example/crop", "--where", "sample_uid; DROP TABLE x", "--yes"), 1, "filter"),
    (("delete", "example/crop", "--yes"), 2, "--where"),
    (("status", "--bogus"), 2, "--bogus"),
    (("plan",), 2, "feature"),
    (("graph", "diff", "deadbeef"), 1, "deadbeef"),
]


@pytest.mark.parametrize(("args", "code", "named"), BAD_INPUTS, ids=lambda v: str(v))
def test_bad_input_is_one_line_and_writes_nothing(
    project: Path, args: tuple[str, ...], code: int, named: str
) -> None:
    python(project, "compute.py", "videos")
    python(project, "compute.py")
    before = listing(project)
    failed = mxl(project, *args, code=code)
    assert failed.stderr.startswith("error: ") and failed.stderr.count("\n") == 1, failed.stderr
    assert named in failed.stderr
    assert "Traceback" not in failed.stderr and failed.stdout == ""
    assert listing(project) == before


def test_invalid_configuration_is_a_usage_error(project: Path) -> None:
    config = project / "metaxy_lake.toml"
    config.write_text(config.read_text().replace('format = "delta"', 'formt = "delta"'))
    failed = mxl(project, "status", code=2)
    assert "formt" in failed.stderr and "metaxy_lake.toml" in failed.stderr
    assert failed.stderr.count("\n") == 1
    config.write_text("project = [")
    assert "metaxy_lake.toml" in mxl(project, "list", code=2).stderr


def test_debug_shows_the_traceback(project: Path) -> None:
    failed = mxl(project, "plan", "example/nothing", "--debug", code=1)
    assert "Traceback" in failed.stderr and "UnknownFeatureError" in failed.stderr


def test_help_lists_every_command_with_its_line() -> None:
    env = {**os.environ, "COLUMNS": "80"}  # a common terminal: no line may be cut short
    text = subprocess.run([MXL, "--help"], capture_output=True, text=True, env=env).stdout
    commands = [
        "init",
        "demo",
        "list",
        "describe",
        "config",
        "graph",
        "status",
        "plan",
        "read",
        "history",
        "delete",
        "compact",
        "expire",
        "lineage",
        "explain",
    ]
    for name in commands:
        assert re.search(rf"^\s+{name}\s+\S", text, re.M), name
    graph = subprocess.run([MXL, "graph", "--help"], capture_output=True, text=True, env=env)
    for name in ("push", "history", "diff", "render"):
        assert re.search(rf"^\s+{name}\s+\S", graph.stdout, re.M), name
    for listing in (text, graph.stdout):
        commands_part = listing.split("Commands:", 1)[1]
        assert "..." not in commands_part, commands_part  # each one-line help is whole


def test_readme_cli_tour_runs(tmp_path: Path) -> None:
    readme = (TOUR.parents[1] / "README.md").read_text()
    section = readme.split("## The command line: a tour", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.S)
    assert match, "the README has a CLI tour"
    shutil.copytree(TOUR, tmp_path / "examples" / "cli_tour")
    script = "set -euo pipefail\n" + match.group(1)
    env = environment({"PATH": f"{Path(MXL).parent}:{os.environ['PATH']}"})
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "flowchart" in done.stdout and "example/crop" in done.stdout
    assert (tmp_path / "examples" / "cli_tour" / "metaxy_lake.toml").is_file()


def test_status_through_a_fallback_chain_says_which_store_serves_how_many(project: Path) -> None:
    python(project, "compute.py")  # the default store ("local") plays prod
    config = project / "metaxy_lake.toml"
    config.write_text(
        config.read_text() + '\n[stores.dev]\nroot = "./.metaxy/dev"\nfallback = ["local"]\n'
    )
    prod_files = listing(project / ".metaxy" / "local")
    status = mxl_json(project, "--store", "dev", "status", env=BUMPED)
    rows = {r["feature"]: r for r in status["features"]}
    assert rows["example/crop"]["live_by_store"] == "dev 0, local 6"
    assert rows["example/crop"]["stale"] == 6 and rows["example/faces"]["stale"] == 0
    mxl(project, "--store", "dev", "delete", "example/crop", "--where", "sample_uid = 'v1'", "-y")
    rows = {r["feature"]: r for r in mxl_json(project, "--store", "dev", "status")["features"]}
    assert rows["example/crop"]["live"] == 5
    assert rows["example/crop"]["live_by_store"] == "dev 0, local 5"
    served = mxl_json(project, "--store", "dev", "read", "example/crop")["rows"]
    assert len(served) == 5
    commits = mxl_json(project, "--store", "dev", "history", "example/crop")["commits"]
    assert [c["store"] for c in commits][:2] == ["dev", "dev"]
    assert listing(project / ".metaxy" / "local") == prod_files


def test_lineage_explain_and_where_a_sample_stands(project: Path) -> None:
    python(project, "compute.py")
    mxl(project, "graph", "push", "-m", "v1")
    python(project, "compute.py", env=BUMPED)  # Crop's audio recomputed: v2
    sample = ("--id", "sample_uid=v1")

    rows = mxl_json(project, "lineage", "example/speech_to_text", *sample, "-f", "json")["rows"]
    assert [(r["feature"], r["depth"]) for r in rows] == [
        ("example/speech_to_text", 0),
        ("example/crop", 1),
        ("example/video", 2),
    ]
    assert rows[2]["ids"] == {"sample_uid": "v1"}
    tree = mxl(project, "lineage", "example/speech_to_text", *sample).stdout
    assert "example/video (sample_uid=v1)" in tree and "└── example/crop" in tree
    mermaid = mxl(project, "lineage", "example/crop", *sample, "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart TD") and " --> " in mermaid

    bumped = {"CROP_AUDIO": "3"}
    causes = mxl_json(project, "explain", "example/crop", *sample, env=bumped)["causes"]
    assert [(c["sample_uid"], c["field"], c["cause"], c["expected"]) for c in causes] == [
        ("v1", "audio", "code_version", "3")
    ]
    status = mxl_json(project, "status", *sample, env=bumped)
    assert {s["feature"]: s["status"] for s in status["samples"]} == {
        "example/video": "up_to_date",
        "example/crop": "stale",
        "example/faces": "up_to_date",
        "example/speech_to_text": "up_to_date",
    }
    assert status["in_sync"] is False
    mxl(project, "status", *sample, "--assert-in-sync", env=bumped, code=1)
    mxl(project, "status", *sample, "--assert-in-sync", env=BUMPED)
    missing = mxl(project, "lineage", "example/crop", "--id", "sample_uid=nope").stdout
    assert "has no live row of sample_uid=nope" in missing
    for bad in (["lineage", "example/crop"], ["explain", "example/crop", "--id", "sample_uid"]):
        failed = mxl(project, *bad, code=2)
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr


def test_expire_refuses_what_a_checkpoint_reads_unless_forced(project: Path) -> None:
    python(project, "compute.py")  # each feature's resolve leaves a checkpoint
    # a soft delete appends to Video: the version Crop's checkpoint read is no longer the latest
    mxl(project, "delete", "example/video", "--where", "sample_uid = 'v1'", "--yes")
    refused = mxl(project, "expire", "example/video", "--older-than", "0s", code=1)
    assert "newest checkpoint of example__crop reads" in refused.stderr
    assert "force" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    mxl_json(project, "expire", "example/video", "--older-than", "0s", "--force")
    plan = mxl_json(project, "plan", "example/crop")
    assert plan["path"].startswith("full scan")  # what it read is gone


def test_status_shards_previews_the_fan_out(project: Path) -> None:
    python(project, "compute.py", "videos")
    status = mxl_json(project, "status", "--shards", "3")
    rows = {r["feature"]: r for r in status["features"]}
    crop = rows["example/crop"]
    assert len(crop["per_shard"]) == 3 and sum(crop["per_shard"]) == crop["new"] == 6
    assert rows["example/video"]["per_shard"] == [0, 0, 0]
    text = mxl(project, "status", "--shards", "3").stdout
    assert "per_shard" in text and ", ".join(map(str, crop["per_shard"])) in text
    failed = mxl(project, "status", "--shards", "0", code=2)
    assert failed.stderr.startswith("error: ") and failed.stderr.count("\n") == 1
