"""Whether a resolve may start from, and record, a checkpoint; and if not, why not."""

from __future__ import annotations

from enum import StrEnum

from metaxy_lake.graph import FeatureDefinition
from metaxy_lake.store.resolve.scope import RenderedScope
from metaxy_lake.store.tables.context import StoreContext


class Unusable(StrEnum):
    """Why a resolve neither uses nor records checkpoints (``Increment.reason``'s text)."""

    DISABLED = "checkpoint=False"
    READ_ONLY = "read-only store"
    ROOT = "a root"
    LINEAGE = "expansion or aggregation lineage scans in full"
    SAMPLES = "samples given"
    UNRENDERED = "filters that cannot be rendered"
    NOT_ROW_BY_ROW = "a filter or predicate that is not row by row (a window or an aggregate)"


def usability(
    ctx: StoreContext,
    definition: FeatureDefinition,
    *,
    checkpoint: bool,
    samples_given: bool,
    scope: RenderedScope | None,
) -> Unusable | None:
    """Why a resolve of ``definition`` on ``ctx`` may not use checkpoints (None: it may).

    Args:
        ctx: The store.
        definition: The target.
        checkpoint: The caller's ``checkpoint`` flag.
        samples_given: A root's samples were given.
        scope: The rendered scope (None: a filter that cannot be rendered).
    """
    if not checkpoint:
        return Unusable.DISABLED
    if ctx.read_only:
        return Unusable.READ_ONLY
    if definition.is_root:
        return Unusable.ROOT
    if any(d.lineage != "identity" for d in definition.deps):
        return Unusable.LINEAGE
    if samples_given:
        return Unusable.SAMPLES
    if scope is None:
        return Unusable.UNRENDERED
    if not scope.row_by_row:
        return Unusable.NOT_ROW_BY_ROW
    return None
