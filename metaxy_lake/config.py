"""Project configuration: ``metaxy_lake.toml`` or ``[tool.metaxy_lake]`` in pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from metaxy_lake.graph.versioning import DEFAULT_HASH_LENGTH, check_hash_length

CONFIG_FILE = "metaxy_lake.toml"
PYPROJECT_FILE = "pyproject.toml"
KEY_HASH_LENGTH = "hash_length"


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


def default_hash_length() -> int:
    """The hash length of the default feature graph: ``hash_length`` of the configuration."""
    return check_hash_length(find_config().get(KEY_HASH_LENGTH, DEFAULT_HASH_LENGTH))
