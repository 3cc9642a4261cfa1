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
candidates to pay (``CANDIDATE_FRACTION``), or storage failing to read or write one
(``checkpoint_problem``), and the resolve scans in full. Any other error is a bug and
propagates.
"""

from __future__ import annotations

import functools
import logging
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
from metaxy_lake.engine.relations import Relation, materialize, scan
from metaxy_lake.engine.sql import ident, idents
from metaxy_lake.formats import Added, ParquetScan
from metaxy_lake.formats.outcomes import (
    StorageErrors,
    damaged_metadata,
    missing_data_file,
    storage_failure,
)
from metaxy_lake.graph import FeatureDefinition
from metaxy_lake.increment import ResolvePath
from metaxy_lake.store.resolve.sources import Source
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
_NOTHING = Added(0, 0, lambda: ParquetScan((), pa.schema([])))
NO_CHECKPOINT = "no usable checkpoint"
UNREADABLE = "checkpoints unreadable"


def checkpoint_problem(exc: BaseException, declared: StorageErrors) -> bool:
    """Whether ``exc`` is a named problem of checkpoints, on which a resolve scans in full.

    Storage failing a request for a checkpoint file or a table's history
    (``formats.outcomes.storage_failure``), a file gone, or a damaged metadata file. A
    checkpoint file that cannot be parsed, a version no longer in a table's history or
    whose files changed are not errors at all (``catalog.checkpoints`` skips the file,
    ``LakeTable.added_since`` says None). Anything else is a bug and propagates.
    """
    return (
        storage_failure(exc, declared)
        or missing_data_file(exc) is not None
        or damaged_metadata(exc)
    )


@dataclass(frozen=True)
class Start:
    """Where a resolve starts: the candidates (None: every sample) and why.

    Attributes:
        candidates: The samples that can need work, over a table of the session.
        count: How many candidates.
        path: Whether it starts from a checkpoint's candidates or scans in full.
        reason: Why it scans in full (empty on the checkpoint path).
    """

    candidates: Relation | None
    count: int | None
    path: ResolvePath
    reason: str = ""

    @classmethod
    def full(cls, reason: str) -> Start:
        """The full scan, and why."""
        return cls(None, None, ResolvePath.FULL, reason)


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
            if not checkpoint_problem(exc, self.ctx.format.storage_errors):
                raise  # a bug: a silent full scan would hide it
            log.warning("%s: checkpoints unusable, resolving in full: %s", self.ctx.label, exc)
            return Start.full(UNREADABLE)

    def _start(self, predicate_matches: Relation | None) -> Start:
        found = self._find()
        if found is None:
            return Start.full(NO_CHECKPOINT)
        checkpoint, added = found
        pending = read_pending(
            self.ctx.root, self.ctx.storage, self.definition.key.table_name, checkpoint
        )
        if pending is None:
            return Start.full(NO_CHECKPOINT)
        estimate = pending.num_rows + sum(a.rows for a in added)
        largest = max((a.total for a in added), default=0)
        if estimate > CANDIDATE_FRACTION * largest:
            return Start.full(f"too many candidates, about {estimate:,}")
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
        return Start(candidates, int(count), ResolvePath.CHECKPOINT)

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
            if not checkpoint_problem(exc, self.ctx.format.storage_errors):
                raise
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
