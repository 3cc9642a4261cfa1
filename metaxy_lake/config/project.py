"""What a project does with its configuration: import its features, show it, find it."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from metaxy_lake.config.files import CONFIG_FILE, SETTINGS
from metaxy_lake.config.spec import ProjectConfig, load_config
from metaxy_lake.credentials import redact_mapping, redact_uri
from metaxy_lake.errors import ConfigError
from metaxy_lake.graph.versioning import DEFAULT_HASH_LENGTH


def required_config(config: ProjectConfig | None = None) -> ProjectConfig:
    """``config``, else the one found from the working directory.

    Raises:
        ConfigError: No configuration file here or above.
    """
    found = config or load_config()
    if found is None:
        raise ConfigError(
            f"no {CONFIG_FILE} here or above: run `mxl init`, or pass a root (--root URI)"
        )
    return found


def default_hash_length() -> int:
    """The hash length of the default feature graph: ``hash_length`` of the configuration."""
    config = load_config()
    return DEFAULT_HASH_LENGTH if config is None else config.hash_length


def import_features(config: ProjectConfig) -> None:
    """Import the modules (or ``module:attr`` entry points) that declare the features.

    Raises:
        ConfigError: A module cannot be imported, or an attribute is missing.
    """
    folder = str(config.path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    for entry in config.features:
        module_name, _, attr = entry.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"{config.path}: features: cannot import {entry!r}: {exc}") from None
        if attr and not hasattr(module, attr):
            raise ConfigError(f"{config.path}: features: {module_name} has no {attr!r}")


def config_json(config: ProjectConfig) -> dict[str, Any]:
    """The configuration as a JSON-able dict, every credential redacted."""
    data = config.model_dump(mode="json")
    for store in data["stores"].values():
        store["root"] = redact_uri(store["root"])
        for section in SETTINGS:
            if store.get(section) is not None:
                store[section] = redact_mapping(store[section])
    return data
