"""Resolves whose cost follows the change: checkpoints, candidates (docs/design.md, Checkpoints).

A resolve that may use checkpoints (a ``Checkpointing``, built by ``store/resolve/resolving.py``)
describes itself: the fingerprint of the target's resolved definition, its scope as text,
and every table it reads (per feature and per store of the chain) at the version read.
``start`` looks for the newest checkpoint of that fingerprint and scope whose tables are
the same tables, read now at or after its versions with only metaxy appends in between,
and turns it into candidates: its pending ids, the ids in every file added since, and the
samples matching staleness predicates. Every other sample was up to date at the
checkpoint and neither its inputs nor its rows changed since. ``record`` writes this
resolve's checkpoint.

Nothing here is a correctness dependency: no usable checkpoint, a change too large for
candidates to pay (``CANDIDATE_FRACTION``), or any failure reading or writing one, and the
resolve scans in full.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from metaxy_lake.catalog.checkpoints import (
    Checkpoint,
    TableState,
    read_checkpoints,
    read_pending,
    write_checkpoint,
)
from metaxy_lake.engine.increment import IncrementRelations
from metaxy_lake.engine.recipe import HashSettings
from metaxy_lake.engine.relations import Relation, materialize, scan
from metaxy_lake.engine.sql import ident, idents
from metaxy_lake.formats import Added, ParquetScan
from metaxy_lake.graph import FeatureDefinition, FeatureKey
from metaxy_lake.store.tables.chain import ChainTable, links
from metaxy_lake.store.tables.context import StoreContext

log = logging.getLogger(__name__)

CANDIDATE_FRACTION = 0.25
"""Candidates above this fraction of the largest table read: the full scan is cheaper.

Measured at 1M samples (simple graph, Delta): a candidate path costs about the full scan
plus a semi-join over every row, so past a quarter of the rows it stops paying.
"""
PENDING_LIMIT = 100_000
"""Pending ids kept in a checkpoint; above it, it records that everything is pending.

Writing 1M ids costs about 0.15 s (a tenth of a 1M full scan); a resolve that leaves
that many pending rarely precedes one that a checkpoint helps, and the next resolve then
starts from an older checkpoint of the scope, whose pending set is smaller.
"""
_CANDIDATES_TABLE = "_mxl_candidates"
_WINDOW = re.compile(r"\bover\s*\(", re.IGNORECASE)
_NOTHING = Added(0, 0, lambda: ParquetScan((), pa.schema([])))

FULL = "full"
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class Source:
    """One table an increment reads: its feature, its store's table, its id columns.

    ``ids`` maps the table's id columns to the target's (a dep's ``rename``).
    """

    feature: FeatureKey
    part: ChainTable
    ids: Mapping[str, str]

    @property
    def state(self) -> TableState:
        """The table as a checkpoint records it."""
        table = self.part.table
        if table is None:
            return TableState(str(self.feature), self.part.store.root, None, None, None)
        return TableState(
            str(self.feature),
            self.part.store.root,
            table.identity,
            table.version,
            table.files_digest(),
        )


@dataclass(frozen=True)
class Start:
    """Where a resolve starts: the candidates (None: every sample) and why.

    Attributes:
        candidates: The samples that can need work, over a table of the session.
        count: How many candidates.
        path: ``checkpoint`` or ``full``.
        reason: Why it scans in full (empty on the checkpoint path).
    """

    candidates: Relation | None
    count: int | None
    path: str
    reason: str = ""


def fingerprint(definition: FeatureDefinition, settings: HashSettings) -> str:
    """A digest of everything the target's provenance is computed from but the data.

    Its fields with their code versions and upstream fields (after any fields mapping),
    every dep with its ids, columns, rename, lineage and optional flag, and the hash
    settings. Filters are part of the scope.
    """
    spec = {
        "feature": str(definition.key),
        "ids": list(definition.id_columns),
        "join": list(definition.join_columns),
        "fields": [
            [str(f.key), f.code_version, [[str(k), str(fk)] for k, fk in f.deps]]
            for f in definition.fields
        ],
        "deps": [
            {
                "key": str(d.key),
                "ids": dict(d.id_columns),
                "columns": dict(d.columns),
                "renamed": dict(d.renamed),
                "keys": list(d.keys),
                "lineage": d.lineage,
                "optional": d.optional,
            }
            for d in definition.deps
        ],
        "algorithm": settings.algorithm,
        "length": settings.length,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Scope:
    """What a resolve covers, as DuckDB renders its expressions (``filter_sql``).

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
        """The scope as text, with the chain's store roots and pins in order."""
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


def usable_reason(ctx: StoreContext, definition: FeatureDefinition) -> str:
    """Why a resolve of ``definition`` on ``ctx`` neither uses nor records checkpoints."""
    if ctx.read_only:
        return "read-only store"
    if definition.is_root:
        return "a root"
    if any(d.lineage != "identity" for d in definition.deps):
        return "expansion or aggregation lineage scans in full"
    return ""


@dataclass(frozen=True)
class Checkpointing:
    """One resolve's checkpoint bookkeeping."""

    ctx: StoreContext
    con: duckdb.DuckDBPyConnection
    definition: FeatureDefinition
    fingerprint: str
    scope: str
    sources: tuple[Source, ...]
    id_types: Mapping[str, pa.DataType]

    @functools.cached_property
    def states(self) -> tuple[TableState, ...]:
        """The tables read, as a checkpoint records them (each listed once per resolve)."""
        return tuple(s.state for s in self.sources)

    def _find(self) -> tuple[Checkpoint, list[Added]] | None:
        """The newest checkpoint of this scope whose tables only had appends since."""
        states = self.states
        for found in read_checkpoints(
            self.ctx.root,
            self.ctx.storage,
            self.definition.key.table_name,
            self.fingerprint,
            self.scope,
        ):
            if found.everything_pending or len(found.tables) != len(states):
                continue
            then = {(t.feature, t.store): t for t in found.tables}
            added = []
            for source, now in zip(self.sources, states, strict=True):
                old = then.get((now.feature, now.store))
                change = None if old is None else self._change(source, old, now)
                if change is None:
                    break
                added.append(change)
            else:
                return found, added
            return None  # an older checkpoint would have the same commits in between
        return None

    @staticmethod
    def _change(source: Source, old: TableState, now: TableState) -> Added | None:
        """What one table added since a checkpoint; None when that cannot be told."""
        table = source.part.table
        if table is None:  # no table now: it had no rows then either, or it was dropped
            return _NOTHING if old.version is None and old.identity is None else None
        if old.version is not None and (old.identity is None or old.identity != now.identity):
            return None  # another table now (dropped and created again), or one without an id
        return table.added_since(old.version, list(source.ids), old.files)

    def start(self, predicate_matches: Relation | None) -> Start:
        """The candidates of the newest usable checkpoint, or the full scan and why.

        Args:
            predicate_matches: The id columns of the target's live rows matching
                staleness predicates (None without predicates).
        """
        try:
            return self._start(predicate_matches)
        except Exception as exc:  # never a correctness dependency: scan in full instead
            log.warning("%s: checkpoints unusable, resolving in full: %s", self.ctx.label, exc)
            return Start(None, None, FULL, "checkpoints unreadable")

    def _start(self, predicate_matches: Relation | None) -> Start:
        found = self._find()
        if found is None:
            return Start(None, None, FULL, "no usable checkpoint")
        checkpoint, added = found
        pending = read_pending(
            self.ctx.root, self.ctx.storage, self.definition.key.table_name, checkpoint
        )
        if pending is None:
            return Start(None, None, FULL, "no usable checkpoint")
        estimate = pending.num_rows + sum(a.rows for a in added)
        largest = max((a.total for a in added), default=0)
        if estimate > CANDIDATE_FRACTION * largest:
            return Start(None, None, FULL, f"too many candidates, about {estimate:,}")
        ids = list(self.definition.id_columns)
        parts = [self._typed(self.con.from_arrow(pending), {c: c for c in ids})]
        for source, change in zip(self.sources, added, strict=True):
            if change.rows:
                store = source.part.store
                source_scan = change.scan()
                localize = store.engine.localizer(store.root, store.storage)
                rows = scan(self.con, source_scan, source_scan.schema, localize)
                parts.append(self._typed(rows, source.ids))
        if predicate_matches is not None:
            parts.append(self._typed(predicate_matches, {c: c for c in ids}))
        union = parts[0]
        for part in parts[1:]:
            union = union.union(part)
        candidates = materialize(self.con, union.distinct(), _CANDIDATES_TABLE)
        count = self.con.execute(f"SELECT count(*) FROM {_CANDIDATES_TABLE}").fetchall()[0][0]
        return Start(candidates, int(count), CHECKPOINT)

    def _typed(self, rows: Relation, ids: Mapping[str, str]) -> Relation:
        """The id columns of ``rows`` under the target's names and types, in its order.

        The parts of the candidates are unioned by position.
        """
        mine = {theirs: column for column, theirs in ids.items()}
        return rows.project(
            ", ".join(
                f"CAST({ident(mine[c])} AS {_sql_type(self.con, self.id_types[c])}) AS {ident(c)}"
                for c in self.definition.id_columns
            )
        )

    def record(self, found: IncrementRelations) -> None:
        """Write this resolve's checkpoint (a failure is logged, never raised)."""
        try:
            everything = sum(found.counts.values()) > PENDING_LIMIT
            checkpoint = Checkpoint(self.fingerprint, self.scope, self.states, everything)
            pending = self._pending(None if everything else found)
            name = self.definition.key.table_name
            write_checkpoint(self.ctx.root, self.ctx.storage, name, checkpoint, pending)
        except Exception as exc:  # the increment stands; the next resolve scans in full
            log.warning("%s: could not record a checkpoint: %s", self.ctx.label, exc)

    def _pending(self, found: IncrementRelations | None) -> pa.Table:
        """The ids of every sample of the increment (none when ``found`` is None)."""
        ids = list(self.definition.id_columns)
        schema = pa.schema([(c, self.id_types[c]) for c in ids])
        if found is None:
            return schema.empty_table()
        kinds = [found.new, found.stale, found.orphaned]
        union = kinds[0].project(idents(ids))
        for kind in kinds[1:]:
            union = union.union(kind.project(idents(ids)))
        return union.to_arrow_table().cast(schema)


def _sql_type(con: duckdb.DuckDBPyConnection, type_: pa.DataType) -> str:
    """DuckDB's name of an Arrow type."""
    return str(con.from_arrow(pa.schema([("x", type_)]).empty_table()).types[0])
