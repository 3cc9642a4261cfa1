"""An Iceberg store's pyiceberg catalog: ``catalog=`` properties, or a local SQLite file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import cast

from pyiceberg.catalog import Catalog, load_catalog

from metaxy_lake.errors import ReadOnlyStoreError, StoreConfigError
from metaxy_lake.formats.retrying import retry_commit
from metaxy_lake.storage import CONNECT_TIMEOUT_S, StorageConfig

OPTION_CATALOG = "catalog"
OPTION_NAMESPACE = "namespace"
OPTION_READ_ONLY = "read_only"  # set by the store (``StoreSpec.format_options``)
DEFAULT_NAMESPACE = "metaxy"
CATALOG_FILE = "_catalog/iceberg.db"


def _is_catalog_setup_race(exc: Exception) -> bool:
    """Two processes setting up a fresh SQL catalog: the loser's CREATE TABLE fails.

    pyiceberg's SQL catalog creates its tables when they are missing; a concurrent
    process may create them between its check and its ``CREATE TABLE``
    (``sqlite3.OperationalError: table iceberg_tables already exists``). Looking again
    finds them.
    """
    return "already exists" in str(exc) and type(exc).__name__ == "OperationalError"


def _local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def file_uri(uri: str) -> str:
    """``uri`` as a URI (a local path becomes ``file://...``)."""
    return uri if "://" in uri else Path(uri).as_uri()


def local_path(uri: str) -> str:
    """``uri`` without its ``file://`` scheme (other URIs as they are)."""
    return uri.removeprefix("file://") if uri.startswith("file://") else uri


def _catalog_file(root: str, options: Mapping[str, object]) -> Path | None:
    """The local SQLite catalog file of a local store without ``catalog=`` (else None)."""
    if options.get(OPTION_CATALOG) is not None or not _local(root):
        return None
    return Path(local_path(root)) / CATALOG_FILE


def no_catalog_yet(root: str, options: Mapping[str, object]) -> bool:
    """A read-only store whose local catalog file does not exist (yet): it has no table.

    Like a Delta or Lance store at a missing root, it reads as empty and creates
    nothing; once a writer creates the file, the next read opens it.
    """
    db = _catalog_file(root, options)
    return bool(options.get(OPTION_READ_ONLY)) and db is not None and not db.exists()


def open_catalog(
    root: str, storage: StorageConfig, options: Mapping[str, object], timeout_s: float
) -> Catalog:
    """The pyiceberg catalog: ``catalog=`` properties, or a local SQLite file.

    Raises:
        StoreConfigError: An object-store root without ``catalog=``.
        ReadOnlyStoreError: The store is read-only and its local catalog file does not
            exist (opening it would create it).
    """
    # the store passes the ``catalog=`` mapping as given (``StoreSpec.format_options``)
    properties = cast("Mapping[str, str] | None", options.get(OPTION_CATALOG))
    if properties is None:
        db = _catalog_file(root, options)
        if db is None:
            raise StoreConfigError(
                f"an Iceberg store at {root} needs catalog={{...}}: an object-store "
                "root has no safe default catalog (two machines with two SQLite files "
                "would silently diverge)"
            )
        if no_catalog_yet(root, options):
            raise ReadOnlyStoreError(
                f"the read-only Iceberg store at {root} has no catalog ({db}) and creates none"
            )
        db.parent.mkdir(parents=True, exist_ok=True)
        properties = {"type": "sql", "uri": f"sqlite:///{db}"}
    properties = {"warehouse": file_uri(root), **_file_io(root, storage), **properties}
    return retry_commit(
        lambda: load_catalog("metaxy_lake", **properties),
        _is_catalog_setup_race,
        timeout_s,
        f"opening the Iceberg catalog of {root}",
    )


def _file_io(root: str, storage: StorageConfig) -> dict[str, str]:
    """Pyiceberg FileIO properties for an object-store root."""
    if _local(root):
        return {}
    spelled = {
        "s3.endpoint": storage.endpoint_url,
        "s3.region": storage.region_or_default,
        "s3.access-key-id": storage.access_key_id,
        "s3.secret-access-key": storage.secret_access_key,
        "s3.session-token": storage.session_token,
        "s3.connect-timeout": str(float(CONNECT_TIMEOUT_S)),
    }
    return {k: v for k, v in spelled.items() if v}
