"""The audits of one store: lineage, explain, and where samples stand.

``LakeStore`` holds an ``Audits`` and hands its audit methods to it (they are documented
here); each runs the module that does the work (``lineage``, ``explain``,
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
        """The exact rows that produced samples, recursively, as they were at ``as_of``.

        Starts from the samples' rows live at ``as_of`` (now by default) and follows
        ``metaxy_upstream`` to the upstream rows they were computed from: for each edge,
        the latest row of that upstream sample, in any store of the fallback chain and
        not a tombstone, with the recorded data version, written at or before the child.
        Inputs are found even after they were superseded or soft-deleted.

        Args:
            feature: The feature class or key.
            ids: One sample's ids (``{"sample_uid": "s1"}``), several, plain values for a
                feature with one id column (``["s1", "s2"]``), or a frame of id columns.
            as_of: An aware datetime or ISO 8601 text: the rows live then.
            depth: How many edges to follow (all by default; 0: the rows alone).

        Returns:
            One row per row reached and parent edge: ``feature``, ``depth``,
            ``parent_feature``, ``ids`` (struct), the system columns, ``values`` (the user
            columns, a struct), ``code_versions`` (the writing snapshot's, null if it was
            never recorded) and ``metaxy_store``. Empty when no sample has a live row.

        Raises:
            TimeTravelError: ``as_of`` is before the table existed or beyond its kept
                history (the message names the horizon).
            MissingIdColumnError: A sample lacks an id column (or other ids errors).
        """
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
        """Why samples are new, stale or orphaned: one row per (sample, field, cause).

        Causes: ``no_row``, ``code_version``, ``upstream_data``, ``upstream_new``,
        ``upstream_deleted``, ``predicate``; samples up to date have no row.

        Args:
            feature: The feature class or key.
            ids: The samples (as for ``lineage``).
            filters: As for ``resolve_update``.
            global_filters: As for ``resolve_update``.
            staleness_predicates: As for ``resolve_update``.
            recursive: Explain each upstream data change in turn, up to the roots
                (``feature`` and ``depth`` say which feature a row explains).

        Returns:
            The rows and causes of docs/design.md, Explain rows.
        """
        with self.ctx.guard(f"explain of {feature_name(feature)}"):
            scope = ResolveScope.of(filters, global_filters, staleness_predicates)
            return explain.explain(self.ctx, feature, ids, scope=scope, recursive=recursive)

    def sample_status(self, ids: SampleIds, graph: FeatureGraph | None) -> nw.DataFrame[pa.Table]:
        """Where samples stand in every feature of the graph.

        Args:
            ids: The samples (as for ``lineage``); a feature whose id columns they do not
                all name is left out.
            graph: The feature graph (None: the current one).

        Returns:
            Per feature (upstream first) and sample: ``feature``, ``ids``, ``status``
            (``up_to_date``, ``new``, ``stale``, ``orphaned`` or ``absent``),
            ``metaxy_changed_fields`` (stale only), and the live row's
            ``metaxy_created_at``, ``metaxy_write_id`` and ``metaxy_store``.
        """
        with self.ctx.guard("sample status"):
            return sample_status.sample_status(self.ctx, ids, graph or FeatureGraph.current())
