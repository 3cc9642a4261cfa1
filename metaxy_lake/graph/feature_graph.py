"""The feature graph: the DAG of features, where feature classes register."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from metaxy_lake.errors import DuplicateFeatureError, UnknownFeatureError
from metaxy_lake.graph import versioning
from metaxy_lake.graph.definition import FeatureDefinition, resolve_definition
from metaxy_lake.graph.keys import FeatureKey, FeatureRef, FieldKey, KeyedFeature, feature_key_of
from metaxy_lake.graph.spec import FeatureSpec
from metaxy_lake.graph.versioning import DEFAULT_HASH_LENGTH, check_hash_length

_current: contextvars.ContextVar[FeatureGraph | None] = contextvars.ContextVar(
    "metaxy_lake_graph", default=None
)
_default: list[FeatureGraph] = []
_default_hash_length: list[Callable[[], int]] = [lambda: DEFAULT_HASH_LENGTH]


def set_default_hash_length(source: Callable[[], int]) -> None:
    """Say where the default graph takes its hash length from, when it is first needed.

    The package sets it to the project configuration (``metaxy_lake.config``): this
    module reads no file itself.
    """
    _default_hash_length[0] = source


class FeatureGraph:
    """A DAG of features with one hash length for all its versions and record hashes.

    Feature classes register in the current graph when they are defined: the default graph
    (its hash length read from ``metaxy_lake.toml``), or the graph made current by
    ``with graph.use():``.

    Args:
        hash_length: Hex digits kept of every hash (8 to 64).
    """

    def __init__(self, hash_length: int = DEFAULT_HASH_LENGTH) -> None:
        self.hash_length = check_hash_length(hash_length)
        self._features: dict[FeatureKey, FeatureDefinition] = {}
        self._field_versions: dict[tuple[FeatureKey, FieldKey], str] | None = None
        self._feature_versions: dict[FeatureKey, str] | None = None

    # --- the current graph ----------------------------------------------------------------

    @staticmethod
    def current() -> FeatureGraph:
        """Return the graph new feature classes register in."""
        graph = _current.get()
        if graph is not None:
            return graph
        if not _default:
            _default.append(FeatureGraph(hash_length=_default_hash_length[0]()))
        return _default[0]

    @contextmanager
    def use(self) -> Iterator[FeatureGraph]:
        """Make this graph current inside a ``with`` block."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    # --- registration ---------------------------------------------------------------------

    def add(self, feature_class: type[KeyedFeature], spec: FeatureSpec) -> FeatureDefinition:
        """Register a feature class; raise a ``FeatureDefinitionError`` if it is invalid."""
        key = spec.feature_key
        if key in self._features:
            raise DuplicateFeatureError(
                f"feature {key} is already defined in this graph "
                f"(by {self._features[key].feature_class.__qualname__})"
            )
        definition = resolve_definition(feature_class, spec, self._features)
        self._features[key] = definition
        self._field_versions = None
        self._feature_versions = None
        return definition

    # --- lookup ---------------------------------------------------------------------------

    def get(self, ref: FeatureRef) -> FeatureDefinition:
        """Return the definition of a feature given as a class or a key.

        Raises:
            UnknownFeatureError: The graph has no such feature.
        """
        key = feature_key_of(ref)
        found = self._features.get(key)
        if found is None:
            known = ", ".join(sorted(map(str, self._features))) or "none"
            raise UnknownFeatureError(f"unknown feature {key} (known: {known})")
        return found

    def __contains__(self, ref: FeatureRef) -> bool:
        return feature_key_of(ref) in self._features

    @property
    def keys(self) -> list[FeatureKey]:
        """Feature keys in topological order (upstream first, then by key)."""
        order: list[FeatureKey] = []
        seen: set[FeatureKey] = set()

        def visit(key: FeatureKey) -> None:
            if key in seen:
                return
            seen.add(key)
            for dep in self._features[key].deps:
                visit(dep.key)
            order.append(key)

        for key in sorted(self._features, key=str):
            visit(key)
        return order

    def downstream(self, ref: FeatureRef) -> list[FeatureKey]:
        """Keys of the features that depend on ``ref``, directly or not."""
        start = self.get(ref).key
        reached: set[FeatureKey] = {start}
        for key in self.keys:
            if any(dep.key in reached for dep in self._features[key].deps):
                reached.add(key)
        return [k for k in self.keys if k in reached and k != start]

    # --- versions -------------------------------------------------------------------------

    def _versions(self) -> tuple[dict[tuple[FeatureKey, FieldKey], str], dict[FeatureKey, str]]:
        if self._field_versions is None or self._feature_versions is None:
            fields = versioning.field_versions(self._features, self.hash_length)
            features = {
                k: versioning.feature_version(d, fields, self.hash_length)
                for k, d in self._features.items()
            }
            self._field_versions, self._feature_versions = fields, features
        return self._field_versions, self._feature_versions

    def field_versions(self, ref: FeatureRef) -> dict[str, str]:
        """Field key → field version of one feature."""
        definition = self.get(ref)
        fields, _ = self._versions()
        return {str(f.key): fields[(definition.key, f.key)] for f in definition.fields}

    def feature_version(self, ref: FeatureRef) -> str:
        """The feature version of one feature."""
        return self._versions()[1][self.get(ref).key]

    def snapshot_version(self) -> str:
        """The snapshot version of the whole graph."""
        return versioning.snapshot_version(self._versions()[1], self.hash_length)
