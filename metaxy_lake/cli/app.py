"""``mxl``: the command line. Commands live in ``cli/commands``; output goes through ``Output``.

Every error, usage errors included, goes out through ``Output`` on stderr (a plain line, or
one JSON object with ``--output json``): exit code 2 for usage and configuration errors, 1
for the rest; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

# typer vendors click (typer._click) since 0.26; its exceptions are not click's
from typer._click.core import Context
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from metaxy_lake.cli.argv import hoist_globals, output_kind
from metaxy_lake.cli.commands import audit, data, doctor, graph, project
from metaxy_lake.cli.context import Cli, Globals, Invocation
from metaxy_lake.cli.output import Output, make_output
from metaxy_lake.errors import ConfigError, MetaxyLakeError

USAGE_EXIT = 2
ERROR_EXIT = 1


class _Mxl(TyperGroup):
    """The root group: global options anywhere on the line, one document once a command ran."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_globals(args))

    def invoke(self, ctx: Context) -> object:
        try:
            result = super().invoke(ctx)
        except typer.Exit:  # a verdict (`status --assert-in-sync`): its document still prints
            _finish(ctx)
            raise
        _finish(ctx)
        return result


def _finish(ctx: Context) -> None:
    invocation = ctx.find_object(Invocation)
    if invocation is not None and invocation.run is not None:
        with contextlib.suppress(BrokenPipeError):  # the reader (`| head`) left
            invocation.run.out.finish()


app = typer.Typer(
    cls=_Mxl,
    name="mxl",
    help="metaxy_lake: which samples to (re)compute, kept in lakehouse tables.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class OutputKind(StrEnum):
    """How results are printed."""

    text = "text"
    json = "json"


class TableFormat(StrEnum):
    """Table formats of an ad-hoc ``--root`` store."""

    delta = "delta"
    iceberg = "iceberg"
    lance = "lance"


@app.callback()
def _globals(
    ctx: typer.Context,
    store: Annotated[str | None, typer.Option(help="A store named in the configuration.")] = None,
    root: Annotated[
        str | None, typer.Option(help="An ad-hoc store: a directory or s3:// URI.")
    ] = None,
    table_format: Annotated[
        TableFormat | None, typer.Option(help="Table format of the --root store.")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="metaxy_lake.toml to use (else found upwards, or METAXY_LAKE_CONFIG)."),
    ] = None,
    output: Annotated[OutputKind, typer.Option(help="text or json.")] = OutputKind.text,
    debug: Annotated[bool, typer.Option(help="Show tracebacks of errors.")] = False,
) -> None:
    """metaxy_lake: which samples to (re)compute, kept in lakehouse tables.

    Global options go before or after the command.
    """
    fmt = table_format.value if table_format is not None else None
    invocation = ctx.ensure_object(Invocation)
    invocation.run = Cli(Globals(store, root, fmt, config, output.value, debug))


for sub in (project.app, data.app, audit.app, doctor.app):
    app.registered_commands.extend(sub.registered_commands)
app.add_typer(project.config_app, name="config")
app.add_typer(graph.app, name="graph")


def _fail(out: Output, error: BaseException, message: str, code: int) -> NoReturn:
    out.error(type(error).__name__, message)
    raise SystemExit(code)


def main(args: list[str] | None = None) -> None:
    """Entry point: an error goes out through ``Output`` and exits non-zero (2: usage or config).

    The run's ``Output`` reports it, or, when the global options themselves did not parse,
    one made for the ``--output`` the line asked for.
    """
    argv = sys.argv[1:] if args is None else args
    debug = "--debug" in argv
    invocation = Invocation()

    def out() -> Output:
        run = invocation.run
        return run.out if run is not None else make_output(output_kind(argv))

    try:
        code = app(args=argv, prog_name="mxl", standalone_mode=False, obj=invocation)
    except NoArgsIsHelpError as exc:
        shown = out()
        text = exc.ctx.get_help() if exc.ctx else ""
        shown.rendered("help", text, text)
        shown.finish()
        raise SystemExit(0) from None
    except UsageError as exc:
        if debug:
            raise
        _fail(out(), exc, exc.format_message(), USAGE_EXIT)
    except BrokenPipeError:  # the reader (`| head`) left: nothing more to say
        raise SystemExit(0) from None
    except typer.Abort as exc:
        _fail(out(), exc, "aborted", ERROR_EXIT)
    except ConfigError as exc:
        if debug:
            raise
        _fail(out(), exc, str(exc), USAGE_EXIT)
    except MetaxyLakeError as exc:
        if debug:
            raise
        _fail(out(), exc, str(exc), ERROR_EXIT)
    raise SystemExit(code if isinstance(code, int) else 0)
