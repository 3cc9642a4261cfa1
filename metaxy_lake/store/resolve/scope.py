"""What a resolve covers: filters, global filters, staleness predicates and a shard.

A ``ResolveScope`` is the caller's side, as plain data (narwhals expressions, picklable, so
that a Ray task carries it); ``resolve_update``, ``explain``, ``sample_status``, the
checkpoint bookkeeping and ``metaxy_lake.ray`` all take one. ``RenderedScope`` is the
same scope as DuckDB renders its expressions over the increment's relations: its ``text``
names a checkpoint's scope and goes into ``Increment.id``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import duckdb

from metaxy_lake.engine.relations import Relation, check_shard, filter_sql
from metaxy_lake.errors import InvalidFilterError, ScopeArgumentsError, UnknownFeatureError
from metaxy_lake.graph import FeatureDefinition, FeatureGraph, FeatureKey, ResolvedDep
from metaxy_lake.graph.keys import feature_key_of
from metaxy_lake.store.tables.chain import links
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.types import FilterExpr, Filters, FiltersByFeature, filter_list

_WINDOW = re.compile(r"\bover\s*\(", re.IGNORECASE)


@dataclass(frozen=True, eq=False)  # narwhals expressions do not compare as booleans
class ResolveScope:
    """What a resolve covers (the arguments of ``LakeStore.resolve_update`` that scope it).

    Attributes:
        filters: Feature key (the target or one of its deps) → expressions applied to
            that feature's live rows.
        global_filters: Expressions applied to every dep and to the target.
        staleness_predicates: Expressions on the target's stored live rows; a match is
            stale.
        shard: ``(index, count)``: only this shard of samples (None: every sample).

    Example:
        >>> english = nw.col("lang") == "en"  # doctest: +SKIP
        >>> scope = ResolveScope.of(global_filters=english, shard=(0, 4))  # doctest: +SKIP
        >>> store.resolve_update(Crop, scope=scope)  # doctest: +SKIP
    """

    filters: Mapping[FeatureKey, tuple[FilterExpr, ...]] = field(default_factory=dict)
    global_filters: tuple[FilterExpr, ...] = ()
    staleness_predicates: tuple[FilterExpr, ...] = ()
    shard: tuple[int, int] | None = None

    @classmethod
    def of(
        cls,
        filters: FiltersByFeature | None = None,
        global_filters: Filters = None,
        staleness_predicates: Filters = None,
        shard: tuple[int, int] | None = None,
        *,
        scope: ResolveScope | None = None,
    ) -> ResolveScope:
        """A scope from ``resolve_update``'s keyword arguments (each as it accepts them).

        Args:
            filters: Feature → expression(s) on its live rows.
            global_filters: Expression(s) on every dep and the target.
            staleness_predicates: Expression(s) on the target's live rows; a match is stale.
            shard: ``(index, count)``.
            scope: A scope given whole, returned as it is (instead of the others).

        Raises:
            ScopeArgumentsError: Both ``scope`` and any of the others are given.
            FeatureDefinitionError: A key of ``filters`` is neither a feature class nor a
                feature key.
        """
        if scope is not None:
            given = (global_filters, staleness_predicates, shard)
            if filters or any(a is not None for a in given):
                raise ScopeArgumentsError(
                    "pass either scope= or filters, global_filters, staleness_predicates and "
                    "shard, not both: add them to the ResolveScope"
                )
            return scope
        by_key: dict[FeatureKey, tuple[FilterExpr, ...]] = {}
        for ref, exprs in (filters or {}).items():
            key = feature_key_of(ref)
            by_key[key] = (*by_key.get(key, ()), *filter_list(exprs))
        return cls(
            by_key,
            tuple(filter_list(global_filters)),
            tuple(filter_list(staleness_predicates)),
            shard,
        )

    def with_global(self, *exprs: FilterExpr) -> ResolveScope:
        """This scope with more global filters (ANDed)."""
        return ResolveScope(
            self.filters, (*self.global_filters, *exprs), self.staleness_predicates, self.shard
        )

    def with_shard(self, shard: tuple[int, int] | None) -> ResolveScope:
        """This scope restricted to another shard.

        Raises:
            InvalidShardError: ``shard`` is not ``(index, count)``, 0 <= index < count.
        """
        check_shard(shard)
        return ResolveScope(self.filters, self.global_filters, self.staleness_predicates, shard)

    def by_feature(
        self, definition: FeatureDefinition, graph: FeatureGraph
    ) -> dict[FeatureKey, list[FilterExpr]]:
        """The filters by feature key, checked against ``definition`` and its deps.

        Raises:
            UnknownFeatureError: A filter names a feature that is neither the target nor
                one of its deps.
        """
        allowed = {definition.key, *(d.key for d in definition.deps)}
        out: dict[FeatureKey, list[FilterExpr]] = {}
        for ref, exprs in self.filters.items():
            key = graph.get(ref).key
            if key not in allowed:
                raise UnknownFeatureError(
                    f"filters name {key}, which is neither {definition.key} nor one of its deps"
                )
            out.setdefault(key, []).extend(exprs)
        return out


@dataclass(frozen=True)
class RenderedScope:
    """A scope as DuckDB renders its expressions (``filter_sql``).

    Attributes:
        features: Feature key → its filters (the target's, each dep's).
        global_filters: The global filters.
        staleness: The staleness predicates.
        shard: ``(index, count)`` or None.
    """

    features: Mapping[str, str]
    global_filters: str
    staleness: str
    shard: tuple[int, int] | None

    @property
    def row_by_row(self) -> bool:
        """Whether every expression looks at one row at a time (no window, no aggregate).

        Over candidates only, a window or an aggregate would see other rows than over
        the whole table; narwhals renders both with ``OVER (...)``.
        """
        texts = [*self.features.values(), self.global_filters, self.staleness]
        return not any(_WINDOW.search(text) for text in texts)

    def text(self, ctx: StoreContext) -> str:
        """The scope as canonical text, with the chain's store roots and pins in order."""
        chain = [[s.root, None if pin is None else pin.isoformat()] for s, pin in links(ctx)]
        return json.dumps(
            {
                "features": dict(self.features),
                "global": self.global_filters,
                "staleness": self.staleness,
                "shard": self.shard,
                "chain": chain,
            },
            sort_keys=True,
        )


def render(
    con: duckdb.DuckDBPyConnection,
    definition: FeatureDefinition,
    target_rows: Relation,
    target_filters: list[FilterExpr],
    upstream: list[tuple[ResolvedDep, Relation, list[FilterExpr]]],
    scope: ResolveScope,
) -> RenderedScope | None:
    """What the increment covers, as DuckDB renders it (None: a filter it cannot render).

    Args:
        con: The increment's session.
        definition: The target.
        target_rows: The target's rows.
        target_filters: The target's filters.
        upstream: Each dep with its rows (under its names after ``rename``) and filters.
        scope: The scope (its global filters, predicates and shard).
    """
    try:
        features = {str(definition.key): filter_sql(con, target_rows, target_filters)}
        for dep, rows, filters in upstream:
            features[str(dep.key)] = filter_sql(con, rows, filters)
        return RenderedScope(
            features,
            filter_sql(con, target_rows, scope.global_filters),
            filter_sql(con, target_rows, scope.staleness_predicates),
            scope.shard,
        )
    except InvalidFilterError:  # the resolve itself says what is wrong with them
        return None


__all__ = ["RenderedScope", "ResolveScope", "render"]
