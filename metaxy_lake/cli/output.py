"""One way out for every command: ``Output``, with a text and a JSON implementation.

Commands, and ``mxl`` itself when it reports an error or shows help, write only through
an ``Output`` (PyIceberg's CLI does the same), chosen by ``--output``:

- text: rich tables and trees on stdout, progress bars on a terminal only; an error is
  one line ``error: <message>`` on stderr.
- json: one JSON document on stdout, built from everything the command emitted and
  printed when it finishes, so the two carry the same numbers. A command that fails
  prints no document: stdout stays empty and stderr holds one JSON object,
  ``{"error": "<exception class>", "message": "<the text's message>"}``, e.g.
  ``{"error": "UnknownFeatureError", "message": "..."}``, or click's ``UsageError``,
  ``BadParameter``, ``NoSuchOption``, ``MissingParameter`` for usage errors.

Either way the exit code is 2 for usage and configuration errors and 1 for the rest; a
verdict (``status --assert-in-sync``, ``doctor``) exits 1 with its document printed and
nothing on stderr. A question (``delete`` without ``--yes`` on a terminal) is asked on
stderr in JSON. A group called without a command (``mxl graph``) shows its help through
``Output`` (``{"help": ...}`` in JSON); ``--help`` is click's own, text whatever
``--output`` says. Library warnings are ``logging``'s, on stderr, apart from ``Output``.
"""

from __future__ import annotations

import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.progress import Progress
from rich.table import Table

T = TypeVar("T")
Row = Mapping[str, Any]


class Output(ABC):
    """Where a command's results go."""

    @abstractmethod
    def records(
        self,
        key: str,
        rows: Sequence[Row],
        *,
        title: str | None = None,
        columns: Sequence[str] = (),
        group_by: str | None = None,
    ) -> None:
        """A list of records: a table in text (one per ``group_by`` value), a list in JSON."""

    @abstractmethod
    def value(self, key: str, value: Any, label: str | None = None) -> None:
        """One named value: a ``label: value`` line in text, a field in JSON."""

    @abstractmethod
    def rendered(self, key: str, data: Any, renderable: RenderableType) -> None:
        """A tree, diagram or other rendering in text; its data under ``key`` in JSON."""

    @abstractmethod
    def note(self, text: str) -> None:
        """A sentence for a reader (text only: JSON documents carry data, not prose)."""

    @abstractmethod
    def progress(self, items: Sequence[T], description: str) -> Iterator[T]:
        """Iterate ``items``, with a progress bar where a reader watches a terminal."""

    @abstractmethod
    def working(self, description: str) -> AbstractContextManager[object]:
        """A spinner around one long step (a large read), where a reader watches a terminal."""

    @abstractmethod
    def finish(self) -> None:
        """Flush what the command emitted (JSON prints its one document here)."""

    @abstractmethod
    def confirm(self, question: str) -> bool:
        """Ask a reader at a terminal a yes/no question (JSON asks on stderr).

        Raises:
            typer.Abort: The input ended before an answer.
        """

    @abstractmethod
    def error(self, kind: str, message: str) -> None:
        """Report a failure on stderr: ``kind`` names it (the exception's class)."""


def _one_line(message: str) -> str:
    """A message on one line, whatever line breaks and runs of spaces it had."""
    return " ".join(message.split())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items()) or "-"
    return str(value)


class TextOutput(Output):
    """Rich tables and trees on stdout."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)

    def records(
        self,
        key: str,
        rows: Sequence[Row],
        *,
        title: str | None = None,
        columns: Sequence[str] = (),
        group_by: str | None = None,
    ) -> None:
        """See ``Output``."""
        if group_by is not None:
            groups: dict[Any, list[Row]] = {}
            for row in rows:
                groups.setdefault(row[group_by], []).append(row)
            names = [
                c for c in columns or dict.fromkeys(k for r in rows for k in r) if c != group_by
            ]
            for value, members in groups.items():
                self.records(key, members, title=str(value), columns=names)
            return
        names = list(columns) or list(dict.fromkeys(k for row in rows for k in row))
        table = Table(title=title, title_justify="left")
        for name in names:
            numeric = bool(rows) and all(isinstance(r.get(name), int) for r in rows)
            table.add_column(name, justify="right" if numeric else "left")
        for row in rows:
            table.add_row(*(_cell(row.get(name)) for name in names))
        if not rows:
            self.console.print(f"{title or key}: none")
            return
        self.console.print(table)

    def value(self, key: str, value: Any, label: str | None = None) -> None:
        """See ``Output``."""
        if isinstance(value, Mapping) and value:
            self.console.print(f"{label or key}:")
            for name, item in value.items():
                self.console.print(f"  {name}: {_cell(item)}")
            return
        self.console.print(f"{label or key}: {_cell(value)}")

    def rendered(self, key: str, data: Any, renderable: RenderableType) -> None:
        """See ``Output``."""
        if isinstance(renderable, str):
            # diagrams (Mermaid, dot) are copied elsewhere: print them verbatim
            self.console.file.write(renderable if renderable.endswith("\n") else renderable + "\n")
            return
        self.console.print(renderable)

    def note(self, text: str) -> None:
        """See ``Output``."""
        self.console.print(text)

    def progress(self, items: Sequence[T], description: str) -> Iterator[T]:
        """See ``Output``."""
        if not self.console.is_terminal:
            yield from items
            return
        with Progress(console=self.console, transient=True) as bar:
            task = bar.add_task(description, total=len(items))
            for item in items:
                yield item
                bar.advance(task)

    def working(self, description: str) -> AbstractContextManager[object]:
        """See ``Output``."""
        if not self.console.is_terminal:
            return nullcontext()
        return self.console.status(description)

    def finish(self) -> None:
        """Text is printed as it comes: nothing is left to flush."""

    def confirm(self, question: str) -> bool:
        """See ``Output``."""
        return typer.confirm(question)

    def error(self, kind: str, message: str) -> None:
        """One plain line, ``error: <message>`` (the kind is for JSON readers)."""
        sys.stderr.write(f"error: {_one_line(message)}\n")


class JsonOutput(Output):
    """One JSON document on stdout, printed when the command finishes."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {}

    def records(
        self,
        key: str,
        rows: Sequence[Row],
        *,
        title: str | None = None,
        columns: Sequence[str] = (),
        group_by: str | None = None,
    ) -> None:
        """See ``Output``."""
        self.document[key] = [dict(row) for row in rows]

    def value(self, key: str, value: Any, label: str | None = None) -> None:
        """See ``Output``."""
        self.document[key] = value

    def rendered(self, key: str, data: Any, renderable: RenderableType) -> None:
        """See ``Output``."""
        self.document[key] = data

    def note(self, text: str) -> None:
        """See ``Output``."""
        return

    def progress(self, items: Sequence[T], description: str) -> Iterator[T]:
        """See ``Output``."""
        yield from items

    def working(self, description: str) -> AbstractContextManager[object]:
        """See ``Output``."""
        return nullcontext()

    def finish(self) -> None:
        """See ``Output``."""
        json.dump(self.document, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")

    def confirm(self, question: str) -> bool:
        """See ``Output``."""
        return typer.confirm(question, err=True)  # stdout holds the document only

    def error(self, kind: str, message: str) -> None:
        """One JSON object, ``{"error": kind, "message": ...}``, on one line of stderr."""
        sys.stderr.write(json.dumps({"error": kind, "message": _one_line(message)}) + "\n")


def make_output(kind: str) -> Output:
    """The output for ``--output text|json``."""
    return JsonOutput() if kind == "json" else TextOutput()
