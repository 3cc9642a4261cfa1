"""Resolved feature definitions: a spec checked against the graph it joins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from metaxy_lake.errors import (
    ColumnCollisionError,
    CycleError,
    FeatureDefinitionError,
    LineageError,
    UnknownDependencyError,
    UnsupportedColumnTypeError,
)
from metaxy_lake.filters import parse_filter_columns
from metaxy_lake.graph.columns import arrow_type
from metaxy_lake.graph.fields_mapping import FieldsMapping
from metaxy_lake.graph.keys import FeatureKey, FieldKey, KeyedFeature, feature_key_of, fq_field_key
from metaxy_lake.graph.relationship import Kind, LineageRelationship
from metaxy_lake.graph.spec import FeatureDep, FeatureSpec, FieldSpec
from metaxy_lake.schema import SYSTEM_PREFIX, canonical_id_type, is_id_type


@dataclass(frozen=True)
class ResolvedField:
    """A field with its upstream fields resolved, sorted by fully qualified key."""

    key: FieldKey
    code_version: str
    deps: tuple[tuple[FeatureKey, FieldKey], ...]


@dataclass(frozen=True)
class ResolvedDep:
    """An upstream feature as the downstream feature sees it.

    ``columns`` maps each carried upstream column (the join keys, and user columns after
    ``select``) from its stored name to its name in the increment; for an aggregation the
    user columns are carried as lists of the group's values.
    """

    key: FeatureKey
    id_columns: Mapping[str, str]
    """The upstream id columns → their names after ``rename``."""
    columns: Mapping[str, str]
    keys: tuple[str, ...] = ()
    """The columns (after ``rename``) the dep joins on: its id columns for identity,
    ``on`` for expansion and aggregation."""
    lineage: Kind = "identity"
    optional: bool = False
    filters: tuple[Any, ...] = ()
    """The dep's filters as narwhals expressions, over its columns after ``rename``."""
    renamed: Mapping[str, str] = field(default_factory=dict)
    """Every upstream id and user column → its name after ``rename`` (carried or not)."""


@dataclass(frozen=True)
class FeatureDefinition:
    """Everything the graph knows about one feature."""

    key: FeatureKey
    feature_class: type[KeyedFeature]
    spec: FeatureSpec
    id_columns: tuple[str, ...]
    id_types: Mapping[str, pa.DataType]
    user_columns: Mapping[str, pa.DataType]
    required_columns: frozenset[str]
    fields: tuple[ResolvedField, ...]
    deps: tuple[ResolvedDep, ...]
    join_columns: tuple[str, ...] = ()
    """What one expected row of an increment stands for: the id columns, or for an
    expansion the parent's columns (``on``) that this feature stores."""

    @property
    def is_root(self) -> bool:
        """Whether the feature has no upstream features."""
        return not self.deps

    @property
    def field_names(self) -> tuple[str, ...]:
        """Field keys as text, sorted bytewise (the order every record hash uses)."""
        return tuple(sorted(str(f.key) for f in self.fields))

    @property
    def expands(self) -> bool:
        """Whether one expected row stands for many samples (an expansion dep)."""
        return any(d.lineage == "expansion" for d in self.deps)

    def carried_columns(self) -> dict[str, FeatureKey]:
        """Upstream user columns the increment carries, by name, with their source."""
        out: dict[str, FeatureKey] = {}
        for dep in self.deps:
            for name in dep.columns.values():
                if name not in dep.keys:
                    out[name] = dep.key
        return out


def _model_columns(
    key: FeatureKey, model: type[Any], id_columns: tuple[str, ...]
) -> tuple[dict[str, pa.DataType], dict[str, pa.DataType], frozenset[str]]:
    user: dict[str, pa.DataType] = {}
    ids: dict[str, pa.DataType] = {}
    required: set[str] = set()
    for name, info in model.model_fields.items():
        if name.startswith(SYSTEM_PREFIX):
            raise FeatureDefinitionError(
                f"feature {key}: column {name!r} starts with {SYSTEM_PREFIX!r}, which is "
                "reserved for system columns"
            )
        type_ = arrow_type(info.annotation, f"feature {key} column {name!r}")
        if name in id_columns:
            if not is_id_type(type_):
                raise UnsupportedColumnTypeError(
                    f"feature {key}: id column {name!r} must be a string or an integer"
                )
            ids[name] = canonical_id_type(type_)
        else:
            user[name] = type_
            if info.is_required():
                required.add(name)
    return user, ids, frozenset(required)


def _resolve_dep(key: FeatureKey, dep: FeatureDep, upstream: FeatureDefinition) -> ResolvedDep:
    known = list(upstream.id_columns) + list(upstream.user_columns)
    for old in dep.rename:
        if old not in known:
            raise UnknownDependencyError(
                f"feature {key}: rename of {upstream.key} names unknown column {old!r}"
            )
    renamed = {c: dep.rename.get(c, c) for c in known}
    ids = {c: renamed[c] for c in upstream.id_columns}
    keys = _dep_keys(key, dep, upstream, renamed)
    filters = []
    types = {renamed[c]: t for c, t in {**upstream.id_types, **upstream.user_columns}.items()}
    for text in dep.filters:
        expr, columns = parse_filter_columns(text, types)
        filters.append(expr)
        unknown = sorted(columns - set(renamed.values()))
        if unknown:
            raise UnknownDependencyError(
                f"feature {key}: filter {text!r} on {upstream.key} names unknown column(s) "
                f"{unknown} (it has {sorted(renamed.values())}, after rename)"
            )
    user = {c: renamed[c] for c in upstream.user_columns if renamed[c] not in keys}
    if dep.select is not None:
        unknown = sorted(set(dep.select) - set(user.values()) - set(keys))
        if unknown:
            raise UnknownDependencyError(
                f"feature {key}: select of {upstream.key} names unknown columns {unknown}"
            )
        user = {c: n for c, n in user.items() if n in dep.select}
    stored = {n: c for c, n in renamed.items()}
    return ResolvedDep(
        key=upstream.key,
        id_columns=ids,
        columns={**{stored[k]: k for k in keys}, **user},
        keys=keys,
        lineage=dep.lineage.kind,
        optional=dep.optional,
        filters=tuple(filters),
        renamed=renamed,
    )


def _dep_keys(
    key: FeatureKey, dep: FeatureDep, upstream: FeatureDefinition, renamed: Mapping[str, str]
) -> tuple[str, ...]:
    """The columns (after rename) a dep joins on; ``on`` must name upstream columns."""
    lineage = dep.lineage
    if not isinstance(lineage, LineageRelationship):
        raise LineageError(
            f"feature {key}: lineage= of {upstream.key} takes LineageRelationship.identity(), "
            f".expansion(on=[...]) or .aggregation(on=[...]), not {lineage!r}"
        )
    ids = tuple(renamed[c] for c in upstream.id_columns)
    if lineage.kind == "identity":
        return ids
    unknown = [c for c in lineage.on if c not in renamed.values()]
    if unknown:
        raise UnknownDependencyError(
            f"feature {key}: {lineage.kind}(on={list(lineage.on)}) of {upstream.key} names "
            f"column(s) {unknown} it lacks (it has {sorted(renamed.values())}, after rename)"
        )
    if lineage.kind == "expansion" and set(lineage.on) != set(ids):
        raise LineageError(
            f"feature {key}: expansion(on={list(lineage.on)}) of {upstream.key} must name "
            f"its id columns {list(ids)} (after rename): they identify the parent"
        )
    return lineage.on


def _join_columns(
    key: FeatureKey,
    deps: Sequence[ResolvedDep],
    id_columns: tuple[str, ...],
    types: Mapping[str, pa.DataType],
    user: Mapping[str, pa.DataType],
    known: Mapping[FeatureKey, FeatureDefinition],
) -> tuple[str, ...]:
    """The columns every dep joins on, which one expected row of an increment stands for.

    Raises:
        LineageError: The deps join on different columns, or the columns are not the
            feature's id columns (for an expansion, columns the feature stores, of the
            parent's id types where both are declared).
    """
    if not deps:
        return id_columns
    keys = {frozenset(d.keys) for d in deps}
    if len(keys) > 1:
        listed = ", ".join(f"{d.key} ({d.lineage}) on {list(d.keys)}" for d in deps)
        raise LineageError(
            f"feature {key}: its deps must join on the same columns, but {listed}; "
            "rename columns (rename=) or set the lineage (expansion/aggregation on=)"
        )
    expansion = next((d for d in deps if d.lineage == "expansion"), None)
    if expansion is None:
        if set(deps[0].keys) != set(id_columns):
            dep = deps[0]
            raise LineageError(
                f"feature {key}: dependency {dep.key} ({dep.lineage}) joins on "
                f"{sorted(dep.keys)}, but {key} has id columns {sorted(id_columns)}: "
                "use rename=, or expansion/aggregation lineage with on="
            )
        return id_columns
    missing = [c for c in expansion.keys if c not in id_columns and c not in user]
    if missing:
        raise LineageError(
            f"feature {key}: expansion of {expansion.key} on {list(expansion.keys)} needs {key} "
            f"to store {missing} (declare them as columns of {key}): each child names its parent"
        )
    parent = known[expansion.key]
    parent_types = {n: parent.id_types.get(s) for s, n in expansion.id_columns.items()}
    for name in expansion.keys:
        mine, theirs = types.get(name) or user.get(name), parent_types.get(name)
        if mine is not None and is_id_type(mine):
            mine = canonical_id_type(mine)
        if mine is not None and theirs is not None and mine != theirs:
            raise LineageError(
                f"feature {key}: column {name!r} is declared {mine}, but the id column of its "
                f"parent {expansion.key} is {theirs}: declare the same type"
            )
    return expansion.keys


def _check_mapping(
    key: FeatureKey, dep: FeatureDep, upstream: FeatureDefinition, fields: Sequence[FieldSpec]
) -> None:
    """A ``specific`` mapping names only this feature's fields and the upstream's."""
    mapping = dep.fields_mapping
    if mapping.kind != "specific":
        return
    declared = {f.field_key for f in fields}
    available = {f.key for f in upstream.fields}
    unknown = sorted(str(k) for k in mapping.mapping if k not in declared)
    if unknown:
        raise UnknownDependencyError(
            f"feature {key}: the fields mapping of {upstream.key} names field(s) {unknown}, "
            f"which {key} does not declare (it has {sorted(str(f) for f in declared)})"
        )
    missing = sorted({str(v) for vs in mapping.mapping.values() for v in vs if v not in available})
    if missing:
        raise UnknownDependencyError(
            f"feature {key}: the fields mapping of {upstream.key} names field(s) {missing}, "
            f"which {upstream.key} does not have (it has {sorted(str(f) for f in available)})"
        )


def _resolve_field(
    key: FeatureKey,
    spec: FieldSpec,
    deps: Mapping[FeatureKey, FeatureDefinition],
    mappings: Mapping[FeatureKey, FieldsMapping],
) -> ResolvedField:
    fkey = spec.field_key
    pairs: list[tuple[FeatureKey, FieldKey]] = []
    if spec.deps is None:
        for up in deps.values():
            taken = mappings[up.key].resolve(fkey, [f.key for f in up.fields])
            pairs += [(up.key, k) for k in taken]
    else:
        for field_dep in spec.deps:
            up_key = feature_key_of(field_dep.feature)
            if up_key not in deps:
                raise UnknownDependencyError(
                    f"feature {key} field {fkey}: {up_key} is not a dependency of {key}"
                )
            up = deps[up_key]
            available = {f.key for f in up.fields}
            wanted = (
                [FieldKey(f) for f in field_dep.fields]
                if field_dep.fields is not None
                else sorted(available)
            )
            for wk in wanted:
                if wk not in available:
                    raise UnknownDependencyError(
                        f"feature {key} field {fkey}: {up_key} has no field {wk} "
                        f"(it has {sorted(map(str, available))})"
                    )
                pairs.append((up_key, wk))
    unique = sorted(set(pairs), key=lambda p: fq_field_key(*p))
    return ResolvedField(key=fkey, code_version=spec.code_version_text, deps=tuple(unique))


def resolve_definition(
    feature_class: type[KeyedFeature],
    spec: FeatureSpec,
    known: Mapping[FeatureKey, FeatureDefinition],
) -> FeatureDefinition:
    """Check a feature's spec and model against the features already defined.

    Args:
        feature_class: The feature's pydantic model class.
        spec: Its spec.
        known: The features already in the graph, by key.

    Raises:
        FeatureDefinitionError: The definition is invalid (a subclass names the reason).
    """
    key = spec.feature_key
    id_columns = tuple(spec.id_columns)
    if not id_columns or len(set(id_columns)) != len(id_columns):
        raise FeatureDefinitionError(f"feature {key}: id_columns must be distinct and non-empty")
    user, id_types, required = _model_columns(key, feature_class, id_columns)

    deps: dict[FeatureKey, FeatureDefinition] = {}
    mappings: dict[FeatureKey, FieldsMapping] = {}
    resolved_deps: list[ResolvedDep] = []
    for dep in spec.feature_deps:
        up_key = feature_key_of(dep.feature)
        if up_key == key:
            raise CycleError(f"feature {key} depends on itself: cycle {key} -> {key}")
        if up_key not in known:
            raise UnknownDependencyError(
                f"feature {key}: unknown dependency {up_key} (define it first)"
            )
        if up_key in deps:
            raise FeatureDefinitionError(f"feature {key}: dependency {up_key} listed twice")
        deps[up_key] = known[up_key]
        mappings[up_key] = dep.fields_mapping
        _check_mapping(key, dep, known[up_key], spec.field_specs)
        resolved_deps.append(_resolve_dep(key, dep, known[up_key]))
    join_columns = _join_columns(key, resolved_deps, id_columns, id_types, user, known)

    sources: dict[str, FeatureKey] = {}
    for rdep in resolved_deps:
        for name in rdep.columns.values():
            if name in rdep.keys:
                continue
            if name in id_columns or name in join_columns or name in sources:
                other = sources.get(name, key)
                raise ColumnCollisionError(
                    f"feature {key}: upstream column {name!r} comes from both {other} and "
                    f"{rdep.key}; use rename= or select= on FeatureDep"
                )
            sources[name] = rdep.key

    field_specs = spec.field_specs
    seen: set[FieldKey] = set()
    fields: list[ResolvedField] = []
    for fspec in field_specs:
        if fspec.field_key in seen:
            raise FeatureDefinitionError(f"feature {key}: field {fspec.field_key} declared twice")
        seen.add(fspec.field_key)
        fields.append(_resolve_field(key, fspec, deps, mappings))

    return FeatureDefinition(
        key=key,
        feature_class=feature_class,
        spec=spec,
        id_columns=id_columns,
        id_types=id_types,
        user_columns=user,
        required_columns=required,
        fields=tuple(fields),
        deps=tuple(resolved_deps),
        join_columns=join_columns,
    )
