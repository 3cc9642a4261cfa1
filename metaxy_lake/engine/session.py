"""The engine session: one DuckDB database that several stores share.

A store scans its tables into a connection of the session, registering its object store
as a filesystem of the session first (``engine.filesystems``). Relations of one
connection can be joined in one query whatever store they scan: a local store and an S3
store with other credentials, or the stores of a fallback chain. ``cursor()`` gives an
operation a connection of its own, whose temporary tables live exactly as long as some
relation over them does.
"""

from __future__ import annotations

import threading

import duckdb

from metaxy_lake.engine.filesystems import Localize, local, register_filesystem
from metaxy_lake.engine.hashing import PYTHON_FUNCTIONS, register_hash_functions
from metaxy_lake.storage import StorageConfig

_shared: list[EngineSession] = []
_shared_lock = threading.Lock()


def _configure(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    con.execute("SET TimeZone = 'UTC'")
    return con


class EngineSession:
    """One DuckDB database: its connections, its registered filesystems.

    Stores share the process's session unless given one (``LakeStore(engine=...)``).

    Example:
        >>> session = EngineSession()
        >>> session.connection.sql("SELECT 1 AS x").fetchall()
        [(1,)]
    """

    def __init__(self) -> None:
        con = duckdb.connect()
        con.execute("SET parquet_metadata_cache = true")
        self._connection = _configure(con)
        self._localizers: dict[str, Localize] = {}
        self._functions = False
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> EngineSession:
        """The process's session, made on first use."""
        with _shared_lock:
            if not _shared:
                _shared.append(cls())
            return _shared[0]

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The session's main connection: lazy reads of every store meet here."""
        return self._connection

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection for one operation: same filesystems, own temporary tables."""
        return _configure(self._connection.cursor())

    def use_algorithm(self, algorithm: str) -> None:
        """Define the SQL functions a record hash algorithm needs (xxhash), once.

        md5 and sha256 are DuckDB's own; defining a Python function needs numpy, so a
        session whose stores use neither xxhash defines nothing.
        """
        with self._lock:
            if algorithm in PYTHON_FUNCTIONS and not self._functions:
                register_hash_functions(self._connection)
                self._functions = True

    def localizer(self, root: str, storage: StorageConfig) -> Localize:
        """Register a store's filesystem (once per identity); a rewrite of its file URIs."""
        with self._lock:
            found = self._localizers.get(storage.identity)
            if found is None:
                found = register_filesystem(self._connection, root, storage)
                if found is not None:
                    self._localizers[storage.identity] = found
            return found or local
