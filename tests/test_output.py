"""The CLI's one ``Output``: a progress bar on a terminal only, JSON as one document."""

from __future__ import annotations

import io
import json
import sys

from rich.console import Console
from typer.testing import CliRunner

from metaxy_lake.cli.output import JsonOutput, TextOutput


def run_with_progress(console: Console) -> list[int]:
    out = TextOutput(console)
    seen = list(out.progress([1, 2, 3], "resolving"))
    with out.working("reading example/crop"):
        seen.append(4)
    out.records("features", [{"feature": "a", "new": 1}])
    return seen


def test_progress_shows_on_a_terminal_and_not_on_a_pipe() -> None:
    terminal, pipe = io.StringIO(), io.StringIO()
    assert run_with_progress(Console(file=terminal, force_terminal=True, width=80)) == [1, 2, 3, 4]
    assert run_with_progress(Console(file=pipe, force_terminal=False, width=80)) == [1, 2, 3, 4]
    assert "resolving" in terminal.getvalue() and "reading" in terminal.getvalue()
    assert "resolving" not in pipe.getvalue() and "reading" not in pipe.getvalue()
    assert "\x1b" not in pipe.getvalue()  # no control sequences down a pipe
    assert "feature" in pipe.getvalue() and "new" in pipe.getvalue()


def test_json_is_one_document_of_everything_emitted(capsys) -> None:
    out = JsonOutput()
    assert list(out.progress([1, 2], "resolving")) == [1, 2]
    with out.working("reading"):
        out.note("prose is for text only")
    out.note("prose is for text only")
    out.records("features", [{"feature": "a", "new": 1}], group_by="feature")
    out.value("in_sync", False)
    out.rendered("graph", {"edges": []}, "flowchart TD")
    out.finish()
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "features": [{"feature": "a", "new": 1}],
        "in_sync": False,
        "graph": {"edges": []},
    }


def test_an_error_is_one_line_in_text_and_one_object_in_json(capsys) -> None:
    message = "no feature 'a/b':\n  known: a/c"
    TextOutput(Console(force_terminal=False)).error("UnknownFeatureError", message)
    text = capsys.readouterr()
    assert (text.out, text.err) == ("", "error: no feature 'a/b': known: a/c\n")
    JsonOutput().error("UnknownFeatureError", message)
    document = capsys.readouterr()
    assert document.out == "" and document.err.count("\n") == 1
    assert json.loads(document.err) == {
        "error": "UnknownFeatureError",
        "message": "no feature 'a/b': known: a/c",
    }


def test_json_asks_on_stderr_so_stdout_holds_the_document_only() -> None:
    runner = CliRunner()
    with runner.isolation(input="y\n") as (stdout, stderr, _):
        out = JsonOutput()
        assert out.confirm("delete 3 samples?") is True
        out.value("deleted", 3)
        out.finish()
        sys.stdout.flush()
        sys.stderr.flush()
        printed = stdout.getvalue().decode()  # the runner echoes the answer typed here
        assert "samples?" not in printed and "samples?" in stderr.getvalue().decode()
        assert printed.endswith(json.dumps({"deleted": 3}, indent=2) + "\n")
    with runner.isolation(input="n\n") as (stdout, stderr, _):
        assert TextOutput().confirm("delete 3 samples?") is False
        sys.stdout.flush()
        assert "delete 3 samples?" in stdout.getvalue().decode()
