"""A configuration file as a table: found, read as TOML, ``${VAR}`` expanded, explained.

The text-level half of the configuration: which file, what it says, and messages naming
the file and the key. Validating the table into a ``ProjectConfig`` is ``config.project``'s.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from metaxy_lake.credentials import (
    REFERENCE,
    holds_credential,
    is_credential_key,
    literal_credentials,
    redact,
)
from metaxy_lake.errors import ConfigError

CONFIG_FILE = "metaxy_lake.toml"
PYPROJECT_FILE = "pyproject.toml"
ENV_CONFIG = "METAXY_LAKE_CONFIG"
SETTINGS = ("storage_options", "catalog")
"""The sections of a store whose credentials stay ``${VAR}`` references."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms])\s*$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> dt.timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` as a timedelta.

    Raises:
        ConfigError: The text is not a number and one of those units (a ``ValueError``).
    """
    found = _DURATION.match(text)
    if found is None:
        raise ConfigError(f"{text!r} is not a duration such as 7d, 12h, 30m or 45s")
    return dt.timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})


def _dotted(where: tuple[str | int, ...]) -> str:
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _is_credential(where: tuple[str | int, ...], value: str) -> bool:
    """Whether a store's setting holds a credential once expanded (kept as its references).

    Judged on the expanded value: ``uri = "${CATALOG_URI}"`` may expand to a URI with a
    password, which must not travel either.
    """
    in_settings = len(where) == 4 and where[0] == "stores" and where[2] in SETTINGS
    return in_settings and holds_credential(str(where[3]), value)


def expand(value: Any, where: tuple[str | int, ...], path: Path) -> Any:
    """``value`` (at ``where`` in the file) with ``${VAR}`` expanded, but credentials.

    Raises:
        ConfigError: A variable is not set and has no default.
    """
    if isinstance(value, dict):
        return {k: expand(v, (*where, k), path) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, (*where, i), path) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(found: re.Match[str]) -> str:
        name, default = found.group(1), found.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{path}: {_dotted(where)} uses ${{{name}}}, which is not set: set it, "
            f"or give a default as ${{{name}:-value}}"
        )

    expanded = REFERENCE.sub(substitute, value)  # every variable must be set, also for these
    return value if _is_credential(where, expanded) else expanded


def refuse_literal_credentials(table: Mapping[str, Any], path: Path) -> None:
    """Refuse a store setting that holds a credential as text.

    Raises:
        ConfigError: Naming the key, and how to give the credential instead.
    """
    for name, store in (table.get("stores") or {}).items():
        if not isinstance(store, Mapping):
            continue
        for section in SETTINGS:
            settings = store.get(section)
            for key in literal_credentials(settings) if isinstance(settings, Mapping) else []:
                where = "" if is_credential_key(key) else " (a URI's user:password@ and query)"
                raise ConfigError(
                    f"{path}: stores.{name}.{section}.{key} holds a credential{where}: "
                    'credentials never come from the file; write "${VAR}" (no :-default) '
                    "and set VAR in the environment of every process that opens the store"
                )


def _written(table: Mapping[str, Any], loc: list[Any], default: Any) -> Any:
    """The value at ``loc`` as the file writes it (``default`` where the file has none)."""
    found: Any = table
    for part in loc:
        in_table = isinstance(found, Mapping) and part in found
        in_list = isinstance(found, list) and isinstance(part, int) and 0 <= part < len(found)
        if not (in_table or in_list):
            return default
        found = found[part]
    return found


def message(error: ValidationError, table: Mapping[str, Any], path: Path) -> str:
    """What a validation error says about the file: the key, and the value as written."""
    # of a union's alternatives (a fallback is a name or a table), the one that got furthest
    first = max(error.errors(), key=lambda e: len(e["loc"]))
    loc = [p for p in first["loc"] if not str(p).startswith(("str", "Pinned"))]
    key = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        return f"{path}: unknown key {key!r}"
    if first["type"] == "missing":
        return f"{path}: {key} is required"
    # the value as the file writes it (a ${VAR} stays one: it may name a secret), redacted
    written = _written(table, loc, first.get("input"))
    shown = redact(str(loc[-1]) if loc else "", written)
    return f"{path}: {key}: {first['msg'].lower()} (got {shown!r})"


def read_table(path: Path, in_pyproject: bool) -> Mapping[str, Any] | None:
    """The configuration table of a file (None: a pyproject.toml without one).

    Raises:
        ConfigError: The file cannot be read as TOML.
    """
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML: {exc}") from None
    if in_pyproject:
        table = table.get("tool", {}).get("metaxy_lake")
        if not isinstance(table, dict):
            return None
    return table


def candidates(path: Path | str | None, start: Path | None) -> list[tuple[Path, bool]]:
    """The files to try, in order, each with whether it is a pyproject.toml.

    ``path``, else ``$METAXY_LAKE_CONFIG``, else every ``metaxy_lake.toml`` or
    pyproject.toml from ``start`` (the working directory) upwards.

    Raises:
        ConfigError: An explicit file is missing.
    """
    explicit = path or os.environ.get(ENV_CONFIG)
    if explicit:
        file = Path(explicit)
        if not file.is_file():
            raise ConfigError(f"{file}: no such configuration file")
        return [(file.resolve(), file.name == PYPROJECT_FILE)]
    here = (start or Path.cwd()).resolve()
    found: list[tuple[Path, bool]] = []
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return [*found, (folder / CONFIG_FILE, False)]
        if (folder / PYPROJECT_FILE).is_file():
            found.append((folder / PYPROJECT_FILE, True))
    return found
