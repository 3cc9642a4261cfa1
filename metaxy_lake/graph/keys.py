"""Feature and field keys: validated, slash-joined names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeAlias

from metaxy_lake.errors import FeatureDefinitionError, InvalidKeyError, MetaxyLakeError

_PART = re.compile(r"[A-Za-z0-9_]+")


def _split(value: str | Sequence[str], what: str) -> tuple[str, ...]:
    parts = tuple(value.split("/")) if isinstance(value, str) else tuple(value)
    if not parts:
        raise InvalidKeyError(f"{what} key is empty")
    for part in parts:
        if not isinstance(part, str) or not _PART.fullmatch(part):
            raise InvalidKeyError(
                f"{what} key {'/'.join(map(str, parts))!r}: part {part!r} must be one or more "
                "of [A-Za-z0-9_]"
            )
    return parts


@dataclass(frozen=True, order=True)
class FeatureKey:
    """The key of a feature, e.g. ``FeatureKey("example/crop")``.

    Parts are ``[A-Za-z0-9_]+``; a part may not start or end with ``_`` nor contain
    ``__``, so that ``table_name`` (parts joined by ``__``) is unique.

    Args:
        value: ``"a/b"``, ``["a", "b"]`` or another ``FeatureKey``.
    """

    parts: tuple[str, ...]

    def __init__(self, value: str | Sequence[str] | FeatureKey) -> None:
        if isinstance(value, FeatureKey):
            parts = value.parts
        else:
            parts = _split(value, "feature")
            for part in parts:
                if part.startswith("_") or part.endswith("_") or "__" in part:
                    raise InvalidKeyError(
                        f"feature key {'/'.join(parts)!r}: part {part!r} may not start or end "
                        "with '_' nor contain '__'"
                    )
        object.__setattr__(self, "parts", parts)

    def __str__(self) -> str:
        return "/".join(self.parts)

    def __repr__(self) -> str:
        return f"FeatureKey({str(self)!r})"

    @property
    def table_name(self) -> str:
        """The key's parts joined by ``__``: the directory or table name of the feature."""
        return "__".join(self.parts)


@dataclass(frozen=True, order=True)
class FieldKey:
    """The key of a field inside a feature, e.g. ``FieldKey("audio")``.

    Args:
        value: ``"audio"``, ``"audio/left"``, ``["audio", "left"]`` or another ``FieldKey``.
    """

    parts: tuple[str, ...]

    def __init__(self, value: str | Sequence[str] | FieldKey) -> None:
        parts = value.parts if isinstance(value, FieldKey) else _split(value, "field")
        object.__setattr__(self, "parts", parts)

    def __str__(self) -> str:
        return "/".join(self.parts)

    def __repr__(self) -> str:
        return f"FieldKey({str(self)!r})"


def fq_field_key(feature: FeatureKey, field: FieldKey) -> str:
    """Return the fully qualified field key ``"<feature key>.<field key>"``."""
    return f"{feature}.{field}"


class KeyedFeature(Protocol):
    """What a feature class is to a reference: a class carrying its key.

    ``Feature`` subclasses are; naming the protocol here, not ``Feature``, keeps the
    keys below the feature class (no import cycle through ``graph/feature.py``).
    """

    __metaxy_key__: ClassVar[FeatureKey]


FeatureRef: TypeAlias = type[KeyedFeature] | FeatureKey | str | Sequence[str]
"""A feature class, a ``FeatureKey``, or a key as text (``"a/b"``) or parts."""


def feature_key_of(ref: FeatureRef) -> FeatureKey:
    """Return the key a feature reference names.

    Args:
        ref: A feature class, a ``FeatureKey``, or a key as text or parts.

    Raises:
        InvalidKeyError: The reference is not a valid key.
        FeatureDefinitionError: The reference is neither a feature class nor a key.
    """
    key = getattr(ref, "__metaxy_key__", None)
    if isinstance(key, FeatureKey):
        return key
    if isinstance(ref, FeatureKey | str | list | tuple):
        return FeatureKey(ref)
    raise FeatureDefinitionError(f"{ref!r} is not a feature class or a feature key")


def feature_name(ref: FeatureRef) -> str:
    """A feature reference as messages name it: its key, else the reference as given."""
    try:
        return str(feature_key_of(ref))
    except MetaxyLakeError:
        return str(ref)
