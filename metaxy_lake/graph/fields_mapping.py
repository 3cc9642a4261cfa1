"""Which upstream fields a feature's fields take from one dep (docs/design.md, Fields mapping).

A ``FieldsMapping`` sits on a ``FeatureDep``; an explicit ``FieldSpec(deps=...)`` replaces
every mapping for its field. The four kinds (Metaxy's names, Metaxy's resolution):

- ``default(match_suffix=False, exclude_fields=[])``: the upstream field with the same
  key (with ``match_suffix``, also those whose key ends with this field's parts:
  ``french`` takes ``audio/french``); when none matches, every upstream field; excluded
  fields are never taken;
- ``specific({field: {upstream fields}})``: exactly those (a field it does not list takes
  nothing from this dep);
- ``all()``: every upstream field; ``none()``: none (the dep still joins, so it still
  restricts the samples).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from metaxy_lake.graph.keys import FieldKey

Kind = Literal["default", "specific", "all", "none"]


@dataclass(frozen=True)
class FieldsMapping:
    """Which upstream fields each field of a feature depends on, for one dependency.

    Build one with ``FieldsMapping.default()``, ``.specific({...})``, ``.all()`` or
    ``.none()``.
    """

    kind: Kind = "default"
    match_suffix: bool = False
    exclude_fields: tuple[FieldKey, ...] = ()
    mapping: Mapping[FieldKey, frozenset[FieldKey]] = field(default_factory=dict)

    @classmethod
    def default(
        cls, *, match_suffix: bool = False, exclude_fields: Sequence[str | FieldKey] = ()
    ) -> FieldsMapping:
        """The same key (or, with ``match_suffix``, a key ending so), else every field.

        Args:
            match_suffix: Also take upstream fields whose key ends with this field's key.
            exclude_fields: Upstream fields never taken.
        """
        excluded = tuple(FieldKey(f) for f in exclude_fields)
        return cls("default", match_suffix=match_suffix, exclude_fields=excluded)

    @classmethod
    def specific(cls, mapping: Mapping[str | FieldKey, Iterable[str | FieldKey]]) -> FieldsMapping:
        """Field → the upstream fields it takes; a field not listed takes none."""
        return cls(
            "specific",
            mapping={FieldKey(k): frozenset(FieldKey(v) for v in vs) for k, vs in mapping.items()},
        )

    @classmethod
    def all(cls) -> FieldsMapping:
        """Every field takes every upstream field."""
        return cls("all")

    @classmethod
    def none(cls) -> FieldsMapping:
        """No field takes an upstream field (the dependency still restricts the samples)."""
        return cls("none")

    def resolve(self, key: FieldKey, upstream: Sequence[FieldKey]) -> list[FieldKey]:
        """The upstream fields (of ``upstream``) that field ``key`` depends on."""
        if self.kind == "all":
            return list(upstream)
        if self.kind == "none":
            return []
        if self.kind == "specific":
            wanted = self.mapping.get(key, frozenset())
            return [f for f in upstream if f in wanted]
        kept = [f for f in upstream if f not in self.exclude_fields]
        same = [f for f in kept if f == key or (self.match_suffix and _ends_with(f, key))]
        return same or kept


def _ends_with(upstream: FieldKey, key: FieldKey) -> bool:
    """Whether ``upstream``'s parts end with ``key``'s (``audio/french`` ends with ``french``)."""
    n = len(key.parts)
    return n <= len(upstream.parts) and upstream.parts[-n:] == key.parts
