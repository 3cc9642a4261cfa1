"""The increment of the samples asked about, per sample of the target (explain, status).

A target with identity or aggregation deps resolves its increment restricted to the
samples, by a global filter on their ids. An expansion's increment is per parent: it is
restricted to the parents of the children asked about (their ``on`` columns), and each
child asked about takes its parent's status: stale when its own provenance differs (with
its own changed fields) or the parent matched a staleness predicate, orphaned when its
parent is gone. A child with no live row is never reported (which children a parent
should have is the writer's to say).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from metaxy_lake.graph import FeatureDefinition
from metaxy_lake.schema import CHANGED_FIELDS, PROVENANCE_BY_FIELD
from metaxy_lake.store.audit.kinds import Status
from metaxy_lake.store.audit.samples import id_values, sample_filter
from metaxy_lake.store.resolve import resolving
from metaxy_lake.store.resolve.scope import ResolveScope
from metaxy_lake.store.tables.context import StoreContext


@dataclass(frozen=True)
class AskedWork:
    """The new, stale and orphaned rows of the samples asked about."""

    new: list[dict[str, Any]]
    stale: list[dict[str, Any]]
    orphaned: list[dict[str, Any]]

    def by_status(self) -> list[tuple[Status, list[dict[str, Any]]]]:
        """Each status (new, stale, orphaned) with its rows."""
        return [
            (Status.NEW, self.new),
            (Status.STALE, self.stale),
            (Status.ORPHANED, self.orphaned),
        ]


def _rows(frame: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = frame.collect().to_arrow().to_pylist()
    return rows


def asked_increment(
    ctx: StoreContext,
    definition: FeatureDefinition,
    keys: pa.Table,
    live: Sequence[Mapping[str, Any]],
    scope: ResolveScope | None = None,
) -> AskedWork:
    """What the samples ``keys`` (with live rows ``live``) need, as ``resolve_update`` says.

    Args:
        ctx: The store.
        definition: A non-root feature.
        keys: The samples asked about (the id columns, checked and typed).
        live: Their live rows.
        scope: As for ``resolve_update`` (none by default).
    """
    on = list(definition.join_columns)
    samples = keys
    if definition.expands:  # the increment is per parent: ask about the children's
        if not live:
            return AskedWork([], [], [])
        samples = pa.Table.from_pylist([{c: row[c] for c in on} for row in live])
    increment = resolving.resolve_update(
        ctx,
        definition.feature_class,
        scope=(scope or ResolveScope()).with_global(sample_filter(samples)),
        checkpoint=False,  # a question about some samples: no resolve starts from it
    )
    if not definition.expands:
        return AskedWork(_rows(increment.new), _rows(increment.stale), _rows(increment.orphaned))
    ids = definition.id_columns
    asked = {id_values(row, ids) for row in live}
    stale_parents = {id_values(row, on): row for row in _rows(increment.stale)}
    stale: list[dict[str, Any]] = []
    for child in live:
        parent = stale_parents.get(id_values(child, on))
        if parent is None:
            continue
        mine, expected = dict(child[PROVENANCE_BY_FIELD] or []), dict(parent[PROVENANCE_BY_FIELD])
        changed = [f for f in definition.field_names if mine.get(f) != expected.get(f)]
        if changed or not parent[CHANGED_FIELDS]:  # its own difference, or a predicate
            stale.append({**parent, **{c: child[c] for c in ids}, CHANGED_FIELDS: changed})
    orphaned = [r for r in _rows(increment.orphaned) if id_values(r, ids) in asked]
    return AskedWork([], stale, orphaned)
