"""The repository's docs stand on their own: no reference leaves the repository.

- no file names the design notes kept outside the repository (docs/design.md carries
  what a maintainer needs from them);
- every relative link of README.md, docs/*.md and examples/**/README.md reaches a file;
- every ``docs/<file>.md, <Section>`` citation in the code names a heading of that file
  (``section N``: a heading numbered N), so renaming a heading breaks this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    ".metaxy",
    "build",
    "dist",
    "results",
}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".sh"}

# Spelled in parts so that this file does not match itself.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\bDESI" r"GN\b",  # the notes' name, upper case: "<name> section 5", "<name>.md"
            r"/work/" r"shared",
            r"\.\./" r"shared/",
            r"\b(?:FA" r"CTS|STY" r"LE|REV" r"IEW)\.md\b",
        ]
    )
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CITATION = re.compile(
    r"docs/(?P<file>[a-z0-9_-]+\.md), (?P<section>section \d+|[A-Z][A-Za-z0-9 `'/-]*[A-Za-z0-9`])"
)
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def repository_files() -> Iterator[Path]:
    """Every text file of the repository (not the virtualenv, caches or results)."""
    stack = [ROOT]
    while stack:
        directory = stack.pop()
        for path in sorted(directory.iterdir()):
            if path.is_dir():
                if path.name not in SKIPPED_DIRS and not path.name.endswith(".egg-info"):
                    stack.append(path)
            elif path.suffix in TEXT_SUFFIXES or path.parent.name == ".ci":
                yield path


def markdown_pages() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "examples").glob("**/README.md")),
    ]


def headings(page: Path) -> set[str]:
    return set(HEADING.findall(FENCE.sub("", page.read_text())))


def test_nothing_points_outside_the_repository() -> None:
    found = []
    for path in repository_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "references outside the repository:\n" + "\n".join(found)


def test_every_relative_markdown_link_reaches_a_file() -> None:
    checked = 0
    broken = []
    for page in markdown_pages():
        for target in LINK.findall(FENCE.sub("", page.read_text())):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a URL or an anchor of the same page
            checked += 1
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to no file:\n" + "\n".join(broken)
    assert checked >= 5, "the link pattern found (almost) nothing: is it still right?"


def test_every_docs_citation_names_a_heading() -> None:
    checked = 0
    wrong = []
    for path in repository_files():
        if path.suffix != ".py":
            continue
        for match in CITATION.finditer(path.read_text()):
            page = ROOT / "docs" / match["file"]
            checked += 1
            if not page.exists():
                wrong.append(f"{path.relative_to(ROOT)}: {match[0]} (no such file)")
                continue
            titles = headings(page)
            section = match["section"]
            if section.startswith("section "):
                number = section.removeprefix("section ")
                ok = any(t.startswith(f"{number}. ") for t in titles)
            else:
                ok = section in titles
            if not ok:
                wrong.append(f"{path.relative_to(ROOT)}: {match[0]} (no such heading)")
    assert not wrong, "citations of no heading:\n" + "\n".join(wrong)
    assert checked >= 20, "the citation pattern found (almost) nothing: is it still right?"
