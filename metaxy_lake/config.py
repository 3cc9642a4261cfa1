"""Project configuration: ``metaxy_lake.toml`` or ``[tool.metaxy_lake]`` in pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

CONFIG_FILE = "metaxy_lake.toml"
PYPROJECT_FILE = "pyproject.toml"
KEY_HASH_LENGTH = "hash_length"
DEFAULT_HASH_LENGTH = 16
MIN_HASH_LENGTH = 8
MAX_HASH_LENGTH = 64


def find_config(start: Path | None = None) -> dict[str, Any]:
    """Return the nearest project configuration, searching ``start`` and its parents.

    Args:
        start: Where to start looking; the working directory by default.

    Returns:
        The configuration table, or an empty dict when there is none.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        own = folder / CONFIG_FILE
        if own.is_file():
            return tomllib.loads(own.read_text())
        pyproject = folder / PYPROJECT_FILE
        if pyproject.is_file():
            table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("metaxy_lake")
            if isinstance(table, dict):
                return table
    return {}


def check_hash_length(value: object) -> int:
    """Return ``value`` as a hash length, or raise ``ValueError`` when out of range."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"hash_length must be an integer, got {value!r}")
    if not MIN_HASH_LENGTH <= value <= MAX_HASH_LENGTH:
        raise ValueError(
            f"hash_length must be between {MIN_HASH_LENGTH} and {MAX_HASH_LENGTH}, got {value}"
        )
    return value
