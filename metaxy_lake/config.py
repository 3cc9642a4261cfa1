"""Project configuration: ``metaxy_lake.toml`` or ``[tool.metaxy_lake]`` in pyproject.toml.

Found from the working directory upwards (or at ``METAXY_LAKE_CONFIG``, or an explicit
path), validated by a pydantic schema, with ``${VAR}`` and ``${VAR:-default}`` expanded
from the environment. Credentials never come from the file (``metaxy_lake.credentials``
says what one is): a credential key, and the user info or password parameter of a URI,
must be ``${VAR}`` references without a default. They stay references in the
configuration and the store's spec; the process that opens the store expands them.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from metaxy_lake.catalog.snapshots import DEFAULT_PROJECT
from metaxy_lake.credentials import (
    REFERENCE,
    holds_credential,
    is_credential_key,
    literal_credentials,
    redact,
    redact_mapping,
    redact_uri,
)
from metaxy_lake.errors import ConfigError
from metaxy_lake.graph.versioning import DEFAULT_HASH_LENGTH, check_hash_length

if TYPE_CHECKING:
    from metaxy_lake.store import LakeStore

CONFIG_FILE = "metaxy_lake.toml"
PYPROJECT_FILE = "pyproject.toml"
ENV_CONFIG = "METAXY_LAKE_CONFIG"
_SETTINGS = ("storage_options", "catalog")
"""The sections of a store whose credentials stay ``${VAR}`` references."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms])\s*$")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> dt.timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` as a timedelta.

    Raises:
        ValueError: The text is not a number and one of those units.
    """
    found = _DURATION.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a duration such as 7d, 12h, 30m or 45s")
    return dt.timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PinnedFallback(_Strict):
    """A fallback store read as it was at ``as_of``."""

    store: str
    as_of: str


class StoreSettings(_Strict):
    """One ``[stores.NAME]`` table."""

    root: str
    format: Literal["delta", "iceberg", "lance"] = "delta"
    hash_algorithm: str = "md5"
    read_only: bool = False
    storage_options: dict[str, str] = Field(default_factory=dict)
    catalog: dict[str, str] | None = None
    namespace: str | None = None
    fallback: list[str | PinnedFallback] = Field(default_factory=list)
    retention: str = "7d"
    """The history ``expire`` keeps by default (a duration: ``7d``, ``12h``...)."""

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, redact(key, value) if key else value


class ProjectConfig(_Strict):
    """The project configuration.

    Attributes:
        path: The file it was read from.
    """

    path: Path
    project: str = DEFAULT_PROJECT
    features: list[str] = Field(default_factory=list)
    default_store: str | None = None
    hash_length: int = DEFAULT_HASH_LENGTH
    stores: dict[str, StoreSettings] = Field(default_factory=dict)

    def store(self, name: str | None = None) -> StoreSettings:
        """The settings of a named store, or of ``default_store``.

        Raises:
            ConfigError: No such store, or no name and no ``default_store``.
        """
        chosen = name or self.default_store
        if chosen is None:
            raise ConfigError(f"{self.path}: no default_store: set it, or pass --store NAME")
        if chosen not in self.stores:
            known = ", ".join(sorted(self.stores)) or "none"
            raise ConfigError(f"{self.path}: unknown store {chosen!r} (stores: {known})")
        return self.stores[chosen]


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
    in_settings = len(where) == 4 and where[0] == "stores" and where[2] in _SETTINGS
    return in_settings and holds_credential(str(where[3]), value)


def _expand(value: Any, where: tuple[str | int, ...], path: Path) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, (*where, k), path) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*where, i), path) for i, v in enumerate(value)]
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


def _refuse_literal_credentials(table: Mapping[str, Any], path: Path) -> None:
    for name, store in (table.get("stores") or {}).items():
        if not isinstance(store, Mapping):
            continue
        for section in _SETTINGS:
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


def _message(error: ValidationError, table: Mapping[str, Any], path: Path) -> str:
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


def _fallback_names(store: StoreSettings) -> list[str]:
    return [f if isinstance(f, str) else f.store for f in store.fallback]


def _check_fallbacks(config: ProjectConfig) -> None:
    def visit(chain: list[str]) -> None:
        for name in _fallback_names(config.stores[chain[-1]]):
            if name not in config.stores:
                raise ConfigError(
                    f"{config.path}: stores.{chain[-1]}.fallback names unknown store {name!r}"
                )
            if name in chain:
                raise ConfigError(f"{config.path}: fallback loop: {' -> '.join([*chain, name])}")
            first, this = config.stores[chain[0]], config.stores[name]
            if this.hash_algorithm != first.hash_algorithm:
                raise ConfigError(
                    f"{config.path}: the stores of one chain must hash alike: stores.{chain[0]} "
                    f"uses {first.hash_algorithm}, its fallback stores.{name} "
                    f"{this.hash_algorithm}"
                )
            visit([*chain, name])

    for start, store in config.stores.items():
        for entry in store.fallback:
            if isinstance(entry, PinnedFallback) and not _aware_time(entry.as_of):
                raise ConfigError(
                    f"{config.path}: stores.{start}.fallback pins {entry.store} to "
                    f"{entry.as_of!r}, which is no ISO 8601 time with a time zone "
                    "(e.g. 2026-11-30T00:00Z)"
                )
        visit([start])


def _aware_time(text: str) -> bool:
    try:
        return dt.datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def parse_config(table: Mapping[str, Any], path: Path) -> ProjectConfig:
    """Validate a configuration table read from ``path``.

    Raises:
        ConfigError: An unknown key, a wrong type, an unset variable, a literal
            credential, an unknown store or a fallback loop; the message names the file
            and the key.
    """
    _refuse_literal_credentials(table, path)
    data = _expand(dict(table), (), path)
    if isinstance(data.get("features"), str):
        data["features"] = [data["features"]]
    try:
        config = ProjectConfig.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise ConfigError(_message(exc, table, path)) from None
    check_hash_length(config.hash_length)
    if config.default_store is not None:
        config.store(config.default_store)
    _check_fallbacks(config)
    return config


def _read(path: Path, in_pyproject: bool) -> ProjectConfig | None:
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML: {exc}") from None
    if in_pyproject:
        table = table.get("tool", {}).get("metaxy_lake")
        if not isinstance(table, dict):
            return None
    return parse_config(table, path)


def load_config(path: Path | str | None = None, start: Path | None = None) -> ProjectConfig | None:
    """The project configuration: ``path``, else ``$METAXY_LAKE_CONFIG``, else the nearest.

    Args:
        path: An explicit file (``metaxy_lake.toml`` or a pyproject.toml).
        start: Where the upward search starts (the working directory by default).

    Returns:
        The configuration, or None when no file is found.

    Raises:
        ConfigError: The file is missing, unreadable or invalid.
    """
    explicit = path or os.environ.get(ENV_CONFIG)
    if explicit:
        file = Path(explicit)
        if not file.is_file():
            raise ConfigError(f"{file}: no such configuration file")
        return _read(file.resolve(), file.name == PYPROJECT_FILE)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return _read(folder / CONFIG_FILE, False)
        if (folder / PYPROJECT_FILE).is_file():
            found = _read(folder / PYPROJECT_FILE, True)
            if found is not None:
                return found
    return None


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


def open_store(name: str | None = None, *, config: ProjectConfig | None = None) -> LakeStore:
    """Open a store named in the configuration (the ``default_store`` without a name).

    Args:
        name: A ``[stores.NAME]`` of the configuration.
        config: The configuration (found from the working directory by default).

    Returns:
        The ``LakeStore``.

    Raises:
        ConfigError: No configuration, or no such store.
    """
    from metaxy_lake.store import LakeStore  # the store layer sits above config

    config = config or load_config()
    if config is None:
        raise ConfigError(
            f"no {CONFIG_FILE} here or above: run `mxl init`, or pass a root (--root URI)"
        )
    settings = config.store(name)
    root = settings.root
    if "://" not in root and not Path(root).is_absolute():
        root = str((config.path.parent / root).resolve())
    fallback: list[Any] = []
    for entry in settings.fallback:
        if isinstance(entry, str):
            fallback.append(open_store(entry, config=config))
        else:
            fallback.append(open_store(entry.store, config=config).pinned(entry.as_of))
    return LakeStore(
        root,
        format=settings.format,
        hash_algorithm=settings.hash_algorithm,
        storage_options=settings.storage_options or None,
        read_only=settings.read_only,
        catalog=settings.catalog,
        namespace=settings.namespace,
        project=config.project,
        fallback=fallback,
        name=name or config.default_store,
        retention=parse_duration(settings.retention),
    )


def config_json(config: ProjectConfig) -> dict[str, Any]:
    """The configuration as a JSON-able dict, every credential redacted."""
    data = config.model_dump(mode="json")
    for store in data["stores"].values():
        store["root"] = redact_uri(store["root"])
        for section in _SETTINGS:
            if store.get(section) is not None:
                store[section] = redact_mapping(store[section])
    return data
