"""Object stores as DuckDB filesystems (no DuckDB extension is downloaded).

DuckDB keeps one fsspec filesystem per protocol name, so each storage identity (endpoint,
region, credentials) is registered under a protocol of its own; two stores with different
endpoints or credentials can then be scanned in one query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from metaxy_lake.storage import StorageConfig, is_object_store

Localize = Callable[[str], str]
"""Rewrites a data file's URI into one DuckDB can open in the session."""
PROTOCOL_PREFIX = "mxls3"


def local(uri: str) -> str:
    """Local files are read where they are."""
    return uri


def register_filesystem(
    con: duckdb.DuckDBPyConnection, root: str, storage: StorageConfig
) -> Localize | None:
    """Register the object store of ``root`` in ``con``'s database (None for a local root)."""
    if not is_object_store(root):
        return None
    import s3fs  # imported only for object stores

    protocol = f"{PROTOCOL_PREFIX}{storage.identity}"
    if protocol not in con.list_filesystems():

        class ImmutableFilesS3(s3fs.S3FileSystem):  # type: ignore[misc]
            """s3fs remembering file info: lake data files never change once written."""

            def __init__(self, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self._file_info: dict[str, Any] = {}

            async def _info(self, path: str, *args: Any, **kwargs: Any) -> Any:
                key = self._strip_protocol(path)
                found = self._file_info.get(key)
                if found is None:
                    found = await super()._info(path, *args, **kwargs)
                    if found.get("type") == "file":
                        self._file_info[key] = found
                return found

        ImmutableFilesS3.protocol = (protocol,)
        con.register_filesystem(ImmutableFilesS3(skip_instance_cache=True, **storage.s3fs_kwargs()))

    def localize(uri: str) -> str:
        return protocol + uri.removeprefix("s3") if uri.startswith("s3://") else uri

    return localize
