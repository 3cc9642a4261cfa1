"""Record hash algorithms as DuckDB SQL (DESIGN section 3).

DuckDB's own ``hash()`` changes between versions and is never used for stored hashes.
"""

from __future__ import annotations

from metaxy_lake.errors import UnknownHashAlgorithmError

HASH_ALGORITHMS: dict[str, str] = {"md5": "md5", "sha256": "sha256"}
"""Algorithm name → DuckDB function returning lower-case hex."""


def check_algorithm(name: str) -> str:
    """Return ``name`` if it is a supported algorithm, else raise naming the known ones."""
    if name not in HASH_ALGORITHMS:
        raise UnknownHashAlgorithmError(
            f"unknown hash algorithm {name!r} (known: {', '.join(sorted(HASH_ALGORITHMS))})"
        )
    return name


def hash_sql(expr: str, algorithm: str, length: int) -> str:
    """SQL computing the truncated hex hash of a VARCHAR expression."""
    return f"left({HASH_ALGORITHMS[algorithm]}({expr}), {length})"
