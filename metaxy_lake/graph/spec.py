"""Declarative specs: what a feature is made of and what it depends on.

Specs are plain frozen values; the feature graph resolves and validates them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from metaxy_lake.errors import FeatureDefinitionError
from metaxy_lake.graph.fields_mapping import FieldsMapping
from metaxy_lake.graph.keys import FeatureKey, FeatureRef, FieldKey
from metaxy_lake.graph.relationship import LineageRelationship

DEFAULT_CODE_VERSION = "__metaxy_initial__"
"""The code version of a field that does not set one (as in Metaxy)."""

DEFAULT_FIELD = "default"
"""The single field of a feature that declares none."""

DEFAULT_ID_COLUMNS: tuple[str, ...] = ("sample_uid",)


@dataclass(frozen=True)
class FieldDep:
    """An explicit dependency of a field on fields of an upstream feature.

    Args:
        feature: The upstream feature (class or key).
        fields: The upstream field keys; ``None`` means all of its fields.
    """

    feature: FeatureRef
    fields: Sequence[str | FieldKey] | None = None


@dataclass(frozen=True)
class FieldSpec:
    """A field: a part of a feature that is versioned on its own.

    Args:
        key: The field key, e.g. ``"audio"``.
        code_version: Bump it when the field's algorithm changes.
        deps: Explicit upstream fields; ``None`` uses each dep's ``fields_mapping`` (by
            default the upstream field with the same key, else all upstream fields).
    """

    key: str | FieldKey
    code_version: str | int = DEFAULT_CODE_VERSION
    deps: Sequence[FieldDep] | None = None

    @property
    def field_key(self) -> FieldKey:
        """The validated key."""
        return FieldKey(self.key)

    @property
    def code_version_text(self) -> str:
        """The code version as text (integers are accepted for convenience)."""
        return str(self.code_version)


@dataclass(frozen=True)
class FeatureDep:
    """A dependency on an upstream feature.

    Args:
        feature: The upstream feature (class or key).
        select: Upstream user columns to carry into the increment, named after
            ``rename``; ``None`` carries all of them.
        rename: Upstream column renames (user or id columns), applied before ``select``.
        optional: A sample without a live row of this dep is still computed: required
            deps are inner-joined, optional ones left-joined (full outer when every dep
            is optional), and a missing upstream value hashes as the empty string.
        fields_mapping: Which of this dep's fields each field depends on
            (``FieldsMapping.default()`` when omitted); an explicit ``FieldSpec(deps=)``
            replaces it for that field.
        filters: SQL-like conditions (``"status = 'ok' AND score > 0.5"``) on the dep's
            live rows, after ``rename`` and before ``select``, inside the increment
            query; checked when the feature is defined.
        lineage: How samples relate: ``LineageRelationship.identity()`` (1:1, the
            default), ``.expansion(on=[...])`` (1:N) or ``.aggregation(on=[...])`` (N:1).
    """

    feature: FeatureRef
    select: Sequence[str] | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    optional: bool = False
    fields_mapping: FieldsMapping = field(default_factory=FieldsMapping.default)
    filters: Sequence[str] = ()
    lineage: LineageRelationship = field(default_factory=LineageRelationship.identity)


@dataclass(frozen=True)
class FeatureSpec:
    """The declaration of a feature.

    Args:
        key: The feature key, e.g. ``"example/crop"``.
        deps: Upstream features (classes, keys or ``FeatureDep``); ``None`` for a root.
        fields: Field keys or ``FieldSpec``; ``None`` means one field named ``default``.
        id_columns: The columns that identify a sample.
    """

    key: str | Sequence[str] | FeatureKey
    deps: Sequence[FeatureRef] | None = None
    fields: Sequence[str | FieldSpec] | None = None
    id_columns: Sequence[str] = DEFAULT_ID_COLUMNS

    @property
    def feature_key(self) -> FeatureKey:
        """The validated key."""
        return FeatureKey(self.key)

    @property
    def field_specs(self) -> tuple[FieldSpec, ...]:
        """The fields as ``FieldSpec`` values (``default`` when none are declared)."""
        if self.fields is None:
            return (FieldSpec(DEFAULT_FIELD),)
        if len(self.fields) == 0:
            raise FeatureDefinitionError(
                f"feature {self.feature_key}: fields=[] declares no field; omit it for a "
                f"single '{DEFAULT_FIELD}' field"
            )
        return tuple(f if isinstance(f, FieldSpec) else FieldSpec(f) for f in self.fields)

    @property
    def feature_deps(self) -> tuple[FeatureDep, ...]:
        """The dependencies as ``FeatureDep`` values."""
        return tuple(d if isinstance(d, FeatureDep) else FeatureDep(d) for d in self.deps or ())
