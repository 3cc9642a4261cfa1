"""The audits of one store: lineage, explain, and where samples stand.

``LakeStore`` holds an ``Audits`` and hands its audit methods to it (they are documented
there); each runs the module that does the work (``lineage``, ``explain``,
``sample_status``) inside the store's guard, like the rest of the facade.
"""

from __future__ import annotations

from dataclasses import dataclass

import narwhals as nw
import pyarrow as pa

from metaxy_lake.graph import FeatureGraph, FeatureRef, feature_name
from metaxy_lake.store.audit import explain, lineage, sample_status
from metaxy_lake.store.resolve.scope import ResolveScope
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.types import AsOfLike, Filters, FiltersByFeature, SampleIds


@dataclass(frozen=True)
class Audits:
    """What produced a sample, why it needs work, and where it stands, in one store.

    Attributes:
        ctx: The store seen from inside (its settings and chain).
    """

    ctx: StoreContext

    def lineage(
        self,
        feature: FeatureRef,
        ids: SampleIds,
        as_of: AsOfLike | None,
        depth: int | None,
    ) -> nw.DataFrame[pa.Table]:
        """The rows that produced samples (``LakeStore.lineage``)."""
        with self.ctx.guard(f"lineage of {feature_name(feature)}"):
            return lineage.lineage(self.ctx, feature, ids, as_of, depth)

    def explain(
        self,
        feature: FeatureRef,
        ids: SampleIds,
        filters: FiltersByFeature | None,
        global_filters: Filters,
        staleness_predicates: Filters,
        recursive: bool,
    ) -> nw.DataFrame[pa.Table]:
        """Why samples are new, stale or orphaned (``LakeStore.explain``)."""
        with self.ctx.guard(f"explain of {feature_name(feature)}"):
            scope = ResolveScope.of(filters, global_filters, staleness_predicates)
            return explain.explain(self.ctx, feature, ids, scope=scope, recursive=recursive)

    def sample_status(self, ids: SampleIds, graph: FeatureGraph | None) -> nw.DataFrame[pa.Table]:
        """Where samples stand in every feature of the graph (``LakeStore.sample_status``)."""
        with self.ctx.guard("sample status"):
            return sample_status.sample_status(self.ctx, ids, graph or FeatureGraph.current())
