"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import metaxy_lake as mxl

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart() -> str:
    text = README.read_text()
    section = text.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README has a quickstart code block"
    return match.group(1)


def test_readme_quickstart_runs(capsys) -> None:
    with mxl.FeatureGraph().use():
        exec(compile(quickstart(), str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "Increment(example/crop: new=2, stale=0, orphaned=0)" in out


def test_readme_format_example_runs() -> None:
    section = README.read_text().split("## Choosing a table format", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match
    scope: dict[str, object] = {}
    exec(compile(match.group(1), str(README), "exec"), scope)
    stores = [scope[n] for n in ("delta", "lance", "iceberg", "shared")]
    assert [s.format.name for s in stores] == ["delta", "lance", "iceberg", "iceberg"]


def test_readme_dependency_shapes_run(capsys) -> None:
    section = README.read_text().split("## Dependency shapes", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match
    exec(compile(match.group(1), str(README), "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out.splitlines()
    assert out == ["Increment(shapes/summary: new=0, stale=0, orphaned=0)", "[['audio', 'frames']]"]


def test_readme_commands_match_ci() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    text = README.read_text()
    commands = re.findall(r"```bash\n(python3 -m venv .*?)\n```", text)
    assert len(commands) == 2
    assert "mxl demo" in commands[0]
    assert commands[1] in ci  # CI runs the README's test command verbatim
