"""Graph-level versions (docs/design.md, Versions): field, feature and snapshot versions.

Pure functions: SHA-256 over UTF-8 text, no separator, truncated to the graph's hash
length. The truncated text is what enters every further hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from metaxy_lake.errors import ConfigError
from metaxy_lake.graph.definition import FeatureDefinition
from metaxy_lake.graph.keys import FeatureKey, FieldKey, fq_field_key

DEFAULT_HASH_LENGTH = 16
MIN_HASH_LENGTH = 8
MAX_HASH_LENGTH = 64


def check_hash_length(value: object) -> int:
    """Return ``value`` as a hash length.

    Raises:
        ConfigError: Not an integer from 8 to 64.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"hash_length must be an integer, got {value!r}")
    if not MIN_HASH_LENGTH <= value <= MAX_HASH_LENGTH:
        raise ConfigError(
            f"hash_length must be between {MIN_HASH_LENGTH} and {MAX_HASH_LENGTH}, got {value}"
        )
    return value


def _sha256(parts: Iterable[str], length: int) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()[:length]


def field_versions(
    definitions: Mapping[FeatureKey, FeatureDefinition], length: int
) -> dict[tuple[FeatureKey, FieldKey], str]:
    """Return the version of every field of every feature.

    Args:
        definitions: Every feature of the graph, by key (upstream features included).
        length: The graph's hash length.
    """
    out: dict[tuple[FeatureKey, FieldKey], str] = {}

    def visit(key: FeatureKey) -> None:
        definition = definitions[key]
        for field in definition.fields:
            if (key, field.key) in out:
                continue
            for up_key, _ in field.deps:
                visit(up_key)
            parts = [fq_field_key(key, field.key), field.code_version]
            parts += [out[dep] for dep in field.deps]  # deps are sorted by fq key
            out[(key, field.key)] = _sha256(parts, length)

    for key in definitions:
        visit(key)
    return out


def feature_version(
    definition: FeatureDefinition,
    versions: Mapping[tuple[FeatureKey, FieldKey], str],
    length: int,
) -> str:
    """Return a feature's version from its fields' versions."""
    keys = sorted(definition.fields, key=lambda f: str(f.key))
    parts: list[str] = []
    for field in keys:
        parts += [str(field.key), versions[(definition.key, field.key)]]
    return _sha256(parts, length)


def snapshot_version(feature_versions: Mapping[FeatureKey, str], length: int) -> str:
    """Return the snapshot version naming one state of the whole graph."""
    parts: list[str] = []
    for key in sorted(feature_versions, key=str):
        parts += [str(key), feature_versions[key]]
    return _sha256(parts, length)
