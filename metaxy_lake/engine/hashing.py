"""Record hash algorithms as DuckDB SQL (docs/design.md, Hash recipe).

``md5`` and ``sha256`` are DuckDB's own (lower-case hex). ``xxhash32`` and ``xxhash64``
(seed 0, written as an unsigned decimal number, Metaxy's defaults) are vectorised
functions over Arrow batches computed by polars-hash, whose output equals the ``xxhash``
package's; a session defines them once a store uses them
(``EngineSession.use_algorithm``), and polars-hash is imported at their first call only.
DuckDB's own ``hash()`` changes between versions and is never used for stored hashes.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
from duckdb import func

from metaxy_lake.errors import UnknownHashAlgorithmError

HASH_ALGORITHMS: dict[str, str] = {
    "md5": "md5",
    "sha256": "sha256",
    "xxhash32": "mxl_xxhash32",
    "xxhash64": "mxl_xxhash64",
}
"""Algorithm name → DuckDB function returning its text."""

PYTHON_FUNCTIONS = frozenset({"xxhash32", "xxhash64"})
"""Algorithms whose function the session defines (``register_hash_functions``)."""


def check_algorithm(name: str) -> str:
    """Return ``name`` if it is a supported algorithm, else raise naming the known ones."""
    if name not in HASH_ALGORITHMS:
        raise UnknownHashAlgorithmError(
            f"unknown hash algorithm {name!r} (known: {', '.join(sorted(HASH_ALGORITHMS))})"
        )
    return name


def hash_sql(expr: str, algorithm: str, length: int) -> str:
    """SQL computing the truncated hash text of a VARCHAR expression."""
    return f"left({HASH_ALGORITHMS[algorithm]}({expr}), {length})"


def _xxhash(bits: int) -> Any:
    def digest(values: pa.Array) -> pa.Array:
        import polars as pl
        import polars_hash as plh

        column = pl.from_arrow(
            pa.chunked_array([values]) if isinstance(values, pa.Array) else values
        )
        hashed = pl.DataFrame({"v": column}).select(
            getattr(plh.col("v").nchash, f"xxhash{bits}")().cast(pl.String)
        )
        return hashed.to_series().to_arrow().cast(pa.string())

    return digest


def register_hash_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Define the xxhash functions in a DuckDB database (its cursors see them too)."""
    for bits in (32, 64):
        con.create_function(
            HASH_ALGORITHMS[f"xxhash{bits}"],
            _xxhash(bits),
            ["VARCHAR"],
            "VARCHAR",
            type=func.ARROW,
            null_handling=func.SPECIAL,
            side_effects=False,
        )
