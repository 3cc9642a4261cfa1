"""A store's configuration as plain data, to open the same store in another process.

Ray tasks and serverless functions get a ``StoreSpec``, never a ``LakeStore``: a store holds
a DuckDB session and open tables, which neither pickle nor belong in another process. Each
process opens the store from its spec (and shares its own engine session).

A spec sent to another process carries no secret: credentials travel as ``${VAR}``
references (a store opened from ``metaxy_lake.toml`` keeps its references), which the
receiving process expands from its own environment. Pickling a spec that holds a literal
credential raises ``SecretExposureError``; its ``repr`` shows no credential.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metaxy_lake.credentials import literal_credentials, redact, redact_uri
from metaxy_lake.errors import SecretExposureError, StoreConfigError

if TYPE_CHECKING:
    from metaxy_lake.store.lake_store import LakeStore

_MAPPING_KEYS = frozenset(
    {
        "root",
        "format",
        "storage_options",
        "hash_algorithm",
        "read_only",
        "catalog",
        "namespace",
        "project",
        "name",
    }
)


@dataclass(frozen=True)
class StoreSpec:
    """Everything ``LakeStore`` was opened with, but the engine session.

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
        commit_timeout_s: How long commits retry conflicts.
        project: The project of its graph snapshots.
        fallback: The fallback chain: each store's spec with its pin (ISO 8601) or None.
        name: The store's name.
        retention_s: The history ``expire`` keeps, in seconds.
    """

    root: str
    format: str = "delta"
    hash_algorithm: str = "md5"
    storage_options: Mapping[str, str] = field(default_factory=dict)
    read_only: bool = False
    catalog: Mapping[str, Any] | None = None
    namespace: str | None = None
    commit_timeout_s: float | None = None
    project: str | None = None
    fallback: tuple[tuple[StoreSpec, str | None], ...] = ()
    name: str | None = None
    retention_s: float | None = None

    def __repr__(self) -> str:
        shown = (f"{f.name}={redact(f.name, getattr(self, f.name))!r}" for f in fields(self))
        return f"StoreSpec({', '.join(shown)})"

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

    def open(self) -> LakeStore:
        """Open the store this spec describes (in this process's engine session)."""
        from metaxy_lake.store.lake_store import LakeStore

        chain: list[Any] = []
        for spec, pin in self.fallback:
            store = spec.open()
            chain.append(store if pin is None else store.pinned(pin))
        options: dict[str, Any] = {
            "format": self.format,
            "hash_algorithm": self.hash_algorithm,
            "storage_options": dict(self.storage_options) or None,
            "read_only": self.read_only,
            "catalog": None if self.catalog is None else dict(self.catalog),
            "namespace": self.namespace,
            "fallback": chain,
            "name": self.name,
        }
        if self.commit_timeout_s is not None:
            options["commit_timeout_s"] = self.commit_timeout_s
        if self.project is not None:
            options["project"] = self.project
        if self.retention_s is not None:
            options["retention"] = dt.timedelta(seconds=self.retention_s)
        return LakeStore(self.root, **options)

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
        from metaxy_lake.store.lake_store import LakeStore

        if isinstance(config, StoreSpec):
            return config
        if isinstance(config, LakeStore):
            return config.spec
        if isinstance(config, Path):
            return cls(str(config.resolve()))
        if isinstance(config, str):
            return _named(config) or cls(_root(config))
        if isinstance(config, Mapping):
            return _from_mapping(config)
        raise StoreConfigError(
            "a store is a LakeStore, a path or URI, a store name of metaxy_lake.toml, or a "
            f"mapping with root, format and storage_options; got {type(config).__name__}"
        )


def _root(text: str) -> str:
    return text if "://" in text else str(Path(text).resolve())


def _named(name: str) -> StoreSpec | None:
    """The spec of a store named in the project configuration, if one has that name."""
    from metaxy_lake.config import load_config, open_store

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
    return open_store(name, config=found).spec


def _from_mapping(config: Mapping[str, Any]) -> StoreSpec:
    unknown = sorted(set(config) - _MAPPING_KEYS)
    if unknown or "root" not in config:
        raise StoreConfigError(
            f"a store mapping needs root and may hold {sorted(_MAPPING_KEYS - {'root'})}; "
            + (f"unknown: {unknown}" if unknown else "root is missing")
        )
    values = dict(config)
    values["root"] = _root(str(values["root"]))
    values["storage_options"] = dict(values.get("storage_options") or {})
    return StoreSpec(**values)
