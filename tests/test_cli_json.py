"""``mxl --output json`` on every command: one JSON document, or one error object on stderr.

The commands are read from the typer app, so a command added without a case here fails
``test_every_command_has_a_case``. They run in process (``main``, as the ``mxl`` script
calls it) against one local Delta store holding the reference scenario's features.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import typer
from typer.core import TyperGroup as Group

import metaxy_lake as mxl
from metaxy_lake.cli.app import app, main
from metaxy_lake.demo import build_features
from metaxy_lake.demo.scenario import compute, videos
from metaxy_lake.graph import feature_graph
from metaxy_lake.schema import DEFAULT_PROJECT


def command_paths(group: Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of ``group`` as the words that call it (``graph push``...)."""
    paths: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        if isinstance(command, Group):
            paths.extend(command_paths(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, Group)
COMMANDS = command_paths(ROOT)


class Case(NamedTuple):
    """A command's arguments that succeed, arguments that fail, the error named, its exit code.

    ``{project}``, ``{broken}`` (a configuration that does not parse) and ``{fresh}`` (a
    new directory) are filled in when the case runs.
    """

    ok: tuple[str, ...]
    bad: tuple[str, ...]
    error: str
    code: int


SAMPLE = ("--id", "sample_uid=video_0000")
CASES: dict[tuple[str, ...], Case] = {
    ("init",): Case(("init", "{fresh}"), ("init", "{project}"), "ConfigError", 2),
    ("list",): Case(("list",), ("list", "--config", "{broken}"), "ConfigError", 2),
    ("describe",): Case(
        ("describe", "example/crop"), ("describe", "example/nothing"), "UnknownFeatureError", 1
    ),
    ("demo",): Case(("demo", "--samples", "1"), ("demo", "--samples", "0"), "BadParameter", 2),
    ("status",): Case(("status",), ("status", "example/nothing"), "UnknownFeatureError", 1),
    ("plan",): Case(
        ("plan", "example/crop"), ("plan", "example/nothing"), "UnknownFeatureError", 1
    ),
    ("read",): Case(
        ("read", "example/crop", "--where", "sample_uid = 'video_0001'"),
        ("read", "example/crop", "--where", "sample_uid = "),
        "InvalidFilterError",
        1,
    ),
    ("history",): Case(
        ("history", "example/crop"), ("history", "example/nothing"), "UnknownFeatureError", 1
    ),
    ("delete",): Case(
        ("delete", "example/crop", "--where", "sample_uid = 'video_0002'", "--yes"),
        ("delete", "example/crop", "--where", "sample_uid; DROP TABLE x", "--yes"),
        "InvalidFilterError",
        1,
    ),
    ("compact",): Case(
        ("compact", "example/faces"), ("compact", "example/nothing"), "UnknownFeatureError", 1
    ),
    ("expire",): Case(
        ("expire", "example/faces"),
        ("expire", "example/faces", "--older-than", "soon"),
        "BadParameter",
        2,
    ),
    ("lineage",): Case(
        ("lineage", "example/speech_to_text", *SAMPLE),
        ("lineage", "example/crop"),
        "BadParameter",
        2,
    ),
    ("explain",): Case(
        ("explain", "example/crop", *SAMPLE),
        ("explain", "example/nothing", *SAMPLE),
        "UnknownFeatureError",
        1,
    ),
    ("doctor",): Case(("doctor",), ("doctor", "--store", "nowhere"), "ConfigError", 2),
    ("config", "show"): Case(
        ("config", "show"), ("config", "show", "--config", "{broken}"), "ConfigError", 2
    ),
    ("graph", "push"): Case(
        ("graph", "push", "-m", "json"), ("graph", "push", "--tag", "bad"), "BadParameter", 2
    ),
    ("graph", "history"): Case(
        ("graph", "history"),
        ("graph", "history", "--root", "{fresh}", "--store", "local"),
        "UsageError",
        2,
    ),
    ("graph", "diff"): Case(
        ("graph", "diff"), ("graph", "diff", "deadbeef"), "UnknownSnapshotError", 1
    ),
    ("graph", "render"): Case(
        ("graph", "render"),
        ("graph", "render", "--feature", "example/nothing"),
        "UnknownFeatureError",
        1,
    ),
}

CONFIG = f"""\
project = "{DEFAULT_PROJECT}"
default_store = "local"

[stores.local]
root = "./store"
format = "delta"
"""


@dataclass(frozen=True)
class Project:
    """A configuration beside a store that holds every feature of the scenario's graph."""

    folder: Path
    graph: mxl.FeatureGraph


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    folder = tmp_path_factory.mktemp("project")
    (folder / "metaxy_lake.toml").write_text(CONFIG)
    (folder / "broken.toml").write_text("project = [")
    store, features = mxl.LakeStore(folder / "store"), build_features()
    store.write(features.video, videos(3))
    for feature in features.all[1:]:
        store.write(feature, compute(feature, store.resolve_update(feature)))
    return Project(folder, features.graph)


class Ran(NamedTuple):
    code: int
    out: str
    err: str


Invoke = Callable[..., Ran]
"""``mxl_json(args, graph=the project's)``: one in-process run of ``mxl``."""


@pytest.fixture
def mxl_json(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Invoke:
    """Run ``mxl --config <project> --output json ARGS`` in process, with the project's graph."""
    # the CLI puts the configuration's folder on sys.path and points the default graph's
    # hash length at the configuration: both are undone after the test
    monkeypatch.setattr(sys, "path", [*sys.path])
    monkeypatch.setattr(
        feature_graph, "_default_hash_length", [*feature_graph._default_hash_length]
    )
    places = {
        "project": str(project.folder),
        "broken": str(project.folder / "broken.toml"),
        "fresh": str(tmp_path / "fresh"),
    }
    config = str(project.folder / "metaxy_lake.toml")

    def invoke(args: tuple[str, ...], graph: mxl.FeatureGraph = project.graph) -> Ran:
        argv = ["--config", config, "--output", "json", *(a.format(**places) for a in args)]
        with graph.use(), pytest.raises(SystemExit) as done:
            main(argv)
        captured = capsys.readouterr()
        assert isinstance(done.value.code, int)
        return Ran(done.value.code, captured.out, captured.err)

    return invoke


def listing(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its size."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def error_of(err: str) -> dict[str, Any]:
    """stderr as one JSON object ``{"error", "message"}`` on one line."""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    error = json.loads(err)
    assert isinstance(error, dict) and error.keys() == {"error", "message"}, error
    assert error["message"], error
    return error


def test_every_command_has_a_case() -> None:
    assert len(COMMANDS) == len(set(COMMANDS)) >= 19
    assert set(CASES) == set(COMMANDS), "a command without a case, or a case without a command"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_success_prints_one_json_document(command: tuple[str, ...], mxl_json: Invoke) -> None:
    assert command in CASES, f"mxl {' '.join(command)} has no case in CASES"
    ran = mxl_json(CASES[command].ok)
    assert ran.code == 0, ran
    document = json.loads(ran.out)  # the whole of stdout: exactly one document
    assert isinstance(document, dict) and document, ran.out
    assert ran.err == ""


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_failure_prints_one_json_error_on_stderr_and_writes_nothing(
    command: tuple[str, ...], mxl_json: Invoke, project: Project
) -> None:
    assert command in CASES, f"mxl {' '.join(command)} has no case in CASES"
    case = CASES[command]
    before = listing(project.folder)
    ran = mxl_json(case.bad)
    assert (ran.code, error_of(ran.err)["error"]) == (case.code, case.error), ran
    assert ran.out == ""
    assert listing(project.folder) == before


def test_a_verdict_prints_its_document_and_no_error(mxl_json: Invoke) -> None:
    bumped = build_features(crop_audio_version="2").graph  # Crop's audio stale
    ran = mxl_json(("status", "--assert-in-sync"), bumped)
    assert ran.code == 1 and ran.err == ""
    assert json.loads(ran.out)["in_sync"] is False


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((), "UsageError"),  # no command: click stops after the global options
        (("--table-format", "csv", "list"), "BadParameter"),  # before the run exists
        (("list", "--bogus"), "NoSuchOption"),
    ],
)
def test_usage_errors_are_json_too(args: tuple[str, ...], error: str, mxl_json: Invoke) -> None:
    ran = mxl_json(args)
    assert (ran.code, error_of(ran.err)["error"], ran.out) == (2, error, "")


def test_help_of_a_group_without_a_command_is_a_document(mxl_json: Invoke) -> None:
    ran = mxl_json(("graph",))
    assert ran.code == 0 and ran.err == ""
    assert "push" in json.loads(ran.out)["help"]
