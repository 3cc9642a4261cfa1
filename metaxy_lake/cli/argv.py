"""Global options anywhere on the line: ``mxl --store prod status`` = ``mxl status --store prod``.

Click reads a group's options only before the command name, so the arguments are
reordered first: every global option (and its value) is moved to the front, before the
command, up to a ``--`` that ends the options.
"""

from __future__ import annotations

from collections.abc import Sequence

TAKES_VALUE = frozenset({"--store", "--root", "--table-format", "--config", "--output"})
"""Global options followed by a value."""
FLAGS = frozenset({"--debug"})
"""Global options standing alone."""


def hoist_globals(args: Sequence[str]) -> list[str]:
    """``args`` with the global options moved in front of the command, order kept."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if arg == "--":
            rest.extend(args[i:])
            break
        if name in FLAGS or (name in TAKES_VALUE and "=" in arg):
            front.append(arg)
        elif name in TAKES_VALUE:
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def output_kind(args: Sequence[str]) -> str:
    """The ``--output`` of ``args`` (``text`` unless ``json`` is asked for), read before click.

    An error in the global options themselves stops click before the root callback makes
    the run's ``Output``; its message still goes out in the kind the line asked for.
    """
    kind = "text"
    front = hoist_globals(args)
    for i, arg in enumerate(front):
        if arg == "--":
            break
        if arg == "--output" and i + 1 < len(front):
            kind = front[i + 1]
        elif arg.startswith("--output="):
            kind = arg.split("=", 1)[1]
    return "json" if kind == "json" else "text"
