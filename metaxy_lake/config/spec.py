"""A store's configuration as plain data (``StoreSpec``), and the project file naming stores.

One ``StoreSpec`` describes a store however it was written: ``LakeStore``'s keyword
arguments, a ``[stores.NAME]`` table of ``metaxy_lake.toml`` (``ProjectConfig.spec``),
a mapping, a path or a URI (``StoreSpec.of``). Every default of a store is defined here,
once. Opening a spec is the store layer's (``LakeStore.from_spec``); nothing here imports it.

Ray tasks and serverless functions get a ``StoreSpec``, never a ``LakeStore``: a store holds
a DuckDB session and open tables, which neither pickle nor belong in another process.
A spec carries no secret: credentials stay ``${VAR}`` references (the configuration never
expands them), which the process that opens the spec expands from its own environment.
Pickling a spec that holds a literal credential raises ``SecretExposureError``; its
``repr`` shows no credential.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from metaxy_lake.config import files
from metaxy_lake.credentials import expand, literal_credentials, redact, redact_uri
from metaxy_lake.errors import ConfigError, SecretExposureError, StoreConfigError
from metaxy_lake.graph.versioning import DEFAULT_HASH_LENGTH, check_hash_length
from metaxy_lake.schema import DEFAULT_PROJECT
from metaxy_lake.storage import StorageConfig

DEFAULT_FORMAT: Final = "delta"
DEFAULT_HASH_ALGORITHM = "md5"
DEFAULT_RETENTION_TEXT = "7d"
DEFAULT_RETENTION = files.parse_duration(DEFAULT_RETENTION_TEXT)
"""How much history ``expire`` keeps unless the store or the call says otherwise."""


def normalize_root(root: str | Path) -> str:
    """A URI without its trailing slash, or an absolute local path."""
    text = str(root)
    return text.rstrip("/") if "://" in text else str(Path(text).resolve())


@dataclass(frozen=True)
class StoreSpec:
    """Everything a store is opened with, but the engine session.

    Storage options are the ones given explicitly, as given (``${VAR}`` references not
    expanded); the process that opens the spec expands them and fills the others from its
    own environment (the standard AWS variables), so credentials from the environment never
    travel with it. Catalog properties alike.

    Attributes:
        root: The store's root URI (absolute for a local directory).
        format: The table format name.
        hash_algorithm: The record hash algorithm.
        storage_options: Object-store settings given explicitly.
        read_only: Whether the store refuses writes.
        catalog: Iceberg catalog properties, if given.
        namespace: Iceberg namespace, if given.
        commit_timeout_s: How long commits retry conflicts (None: the format's default,
            ``formats.DEFAULT_COMMIT_TIMEOUT_S``).
        project: The project of its graph snapshots.
        fallback: The fallback chain: each store's spec with its pin (ISO 8601) or None.
        name: The store's name (None: its root).
        retention_s: The history ``expire`` keeps, in seconds.
    """

    root: str
    format: str = DEFAULT_FORMAT
    hash_algorithm: str = DEFAULT_HASH_ALGORITHM
    storage_options: Mapping[str, str] = field(default_factory=dict)
    read_only: bool = False
    catalog: Mapping[str, object] | None = None
    namespace: str | None = None
    commit_timeout_s: float | None = None
    project: str = DEFAULT_PROJECT
    fallback: tuple[tuple[StoreSpec, str | None], ...] = ()
    name: str | None = None
    retention_s: float = DEFAULT_RETENTION.total_seconds()

    def __repr__(self) -> str:
        shown = (f"{f.name}={redact(f.name, getattr(self, f.name))!r}" for f in fields(self))
        return f"StoreSpec({', '.join(shown)})"

    @property
    def retention(self) -> dt.timedelta:
        """The history ``expire`` keeps by default."""
        return dt.timedelta(seconds=self.retention_s)

    def storage(self) -> StorageConfig:
        """The object-store settings, ``${VAR}`` expanded from this process's environment.

        Raises:
            StoreConfigError: A referenced variable is not set.
        """
        return StorageConfig.resolve(self.storage_options)

    def format_options(self) -> dict[str, object]:
        """The format's options: read-only or not, Iceberg's catalog (expanded) and namespace.

        Raises:
            StoreConfigError: ``catalog`` or ``namespace`` given to another format, or a
                catalog property naming a variable that is not set.
        """
        catalog = None if self.catalog is None else expand(self.catalog, "catalog")
        options: dict[str, Any] = {"read_only": self.read_only}
        if catalog is None and self.namespace is None:
            return options
        if self.format != "iceberg":
            raise StoreConfigError(
                f"catalog= and namespace= apply to format='iceberg', not {self.format!r}"
            )
        if self.namespace is not None:  # else the format's default (``metaxy``)
            options["namespace"] = self.namespace
        if catalog is not None:
            options["catalog"] = catalog
        return options

    def portable(self) -> StoreSpec:
        """This spec, checked to hold no literal credential (fit to send to another process).

        Raises:
            SecretExposureError: A storage option or catalog property (of this store or
                of its fallback chain) holds a credential that is no ``${VAR}`` reference.
        """
        literal = [f"storage_options.{key}" for key in literal_credentials(self.storage_options)]
        literal += [f"catalog.{key}" for key in literal_credentials(self.catalog or {})]
        if literal:
            raise SecretExposureError(
                f"the spec of {redact_uri(self.root)} holds a literal credential "
                f"({', '.join(literal)}), which never leaves this process: pass it as "
                '"${VAR}" (e.g. storage_options={"secret_access_key": "${MY_SECRET}"}) and '
                "set VAR in the workers' environment, or leave it out and let the standard "
                "AWS variables supply it"
            )
        for spec, _ in self.fallback:
            spec.portable()
        return self

    def __getstate__(self) -> dict[str, Any]:
        """What a pickle holds: the spec, once checked to hold no literal credential."""
        return dict(self.portable().__dict__)

    def __copy__(self) -> StoreSpec:
        return self  # immutable: a copy in this process needs no check

    def __deepcopy__(self, memo: dict[int, Any]) -> StoreSpec:
        return self

    @classmethod
    def of(cls, config: object) -> StoreSpec:
        """The spec of a store given as any of the ways a user names one.

        Args:
            config: A ``LakeStore`` (its configuration is taken, not its connection), a
                ``StoreSpec``, a store name of ``metaxy_lake.toml``, a local path or a URI,
                or a mapping with ``root`` and optionally ``format``,
                ``storage_options``, ``hash_algorithm``, ``read_only``, ``catalog``,
                ``namespace``, ``project``, ``name``.

        Raises:
            StoreConfigError: A mapping without ``root`` or with unknown keys, a bare
                name that the configuration does not hold (and no directory has), or
                something that names no store.
            ConfigError: A store name whose configuration is invalid.
        """
        kept = getattr(config, "spec", config)  # a LakeStore keeps the spec it opened
        if isinstance(kept, StoreSpec):
            return kept
        if isinstance(config, Path):
            return cls(normalize_root(config))
        if isinstance(config, str):
            return _named(config) or cls(normalize_root(config))
        if isinstance(config, Mapping):
            return _from_mapping(config)
        raise StoreConfigError(
            "a store is a LakeStore, a path or URI, a store name of metaxy_lake.toml, or a "
            f"mapping with root, format and storage_options; got {type(config).__name__}"
        )


_MAPPING_KEYS = frozenset(
    {"root", "format", "storage_options", "hash_algorithm", "read_only", "catalog"}
    | {"namespace", "project", "name"}
)


def _named(name: str) -> StoreSpec | None:
    """The spec of a store named in the project configuration, if one has that name."""
    if "/" in name or "://" in name:
        return None
    found = load_config()
    if found is None or (name not in found.stores and Path(name).exists()):
        return None
    if name not in found.stores:  # a mistyped name would be an empty store: say so
        known = ", ".join(sorted(found.stores)) or "none"
        raise StoreConfigError(
            f"{found.path}: unknown store {name!r} (stores: {known}); for a directory of "
            f"that name, write ./{name}"
        )
    spec = found.spec(name)
    _check_settings(spec)
    return spec


def _check_settings(spec: StoreSpec) -> None:
    """Refuse here, not in the process that opens it, what opening the chain would refuse.

    (Storage options and Iceberg settings; the file's variables are all set once loaded.)
    """
    spec.storage()
    spec.format_options()
    for entry, _ in spec.fallback:
        _check_settings(entry)


def _from_mapping(config: Mapping[str, Any]) -> StoreSpec:
    unknown = sorted(set(config) - _MAPPING_KEYS)
    if unknown or "root" not in config:
        raise StoreConfigError(
            f"a store mapping needs root and may hold {sorted(_MAPPING_KEYS - {'root'})}; "
            + (f"unknown: {unknown}" if unknown else "root is missing")
        )
    values = dict(config)
    values["root"] = normalize_root(str(values["root"]))
    values["storage_options"] = dict(values.get("storage_options") or {})
    return StoreSpec(**values)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PinnedFallback(_Strict):
    """A fallback store read as it was at ``as_of``."""

    store: str
    as_of: str


class StoreSettings(_Strict):
    """One ``[stores.NAME]`` table, as the file writes it (``ProjectConfig.spec`` reads it)."""

    root: str
    format: Literal["delta", "iceberg", "lance"] = DEFAULT_FORMAT
    hash_algorithm: str = DEFAULT_HASH_ALGORITHM
    read_only: bool = False
    storage_options: dict[str, str] = Field(default_factory=dict)
    catalog: dict[str, str] | None = None
    namespace: str | None = None
    fallback: list[str | PinnedFallback] = Field(default_factory=list)
    retention: str = DEFAULT_RETENTION_TEXT
    """The history ``expire`` keeps by default (a duration: ``7d``, ``12h``...)."""

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str) -> str:
        files.parse_duration(value)
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

    def spec(self, name: str | None = None) -> StoreSpec:
        """The spec of a named store (of ``default_store`` without a name), with its chain.

        A relative root is relative to the file; credentials stay ``${VAR}`` references.

        Raises:
            ConfigError: No such store, or no name and no ``default_store``.
        """
        settings = self.store(name)
        root = settings.root
        if "://" not in root and not Path(root).is_absolute():
            root = str(self.path.parent / root)
        chain: list[tuple[StoreSpec, str | None]] = []
        for entry in settings.fallback:
            if isinstance(entry, str):
                chain.append((self.spec(entry), None))
            else:  # a pin as LakeStore.pinned keeps it: aware, in UTC
                when = dt.datetime.fromisoformat(entry.as_of).astimezone(dt.UTC)
                chain.append((self.spec(entry.store), when.isoformat()))
        return StoreSpec(
            normalize_root(root),
            format=settings.format,
            hash_algorithm=settings.hash_algorithm,
            storage_options=dict(settings.storage_options),
            read_only=settings.read_only,
            catalog=settings.catalog,
            namespace=settings.namespace,
            project=self.project,
            fallback=tuple(chain),
            name=name or self.default_store,
            retention_s=files.parse_duration(settings.retention).total_seconds(),
        )


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
    """Whether ``text`` is an ISO 8601 time with a time zone, within the years 1 to 9999 in UTC."""
    try:
        when = dt.datetime.fromisoformat(text)
        return when.tzinfo is not None and when.astimezone(dt.UTC) is not None
    except (ValueError, OverflowError):
        return False


def parse_config(table: Mapping[str, Any], path: Path) -> ProjectConfig:
    """Validate a configuration table read from ``path``.

    Raises:
        ConfigError: An unknown key, a wrong type, an unset variable, a literal
            credential, an unknown store or a fallback loop; the message names the file
            and the key.
    """
    files.refuse_literal_credentials(table, path)
    data = files.expand(dict(table), (), path)
    if isinstance(data.get("features"), str):
        data["features"] = [data["features"]]
    try:
        config = ProjectConfig.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise ConfigError(files.message(exc, table, path)) from None
    check_hash_length(config.hash_length)
    if config.default_store is not None:
        config.store(config.default_store)
    _check_fallbacks(config)
    return config


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
    for file, in_pyproject in files.candidates(path, start):
        table = files.read_table(file, in_pyproject)
        if table is not None:
            return parse_config(table, file)
    return None
