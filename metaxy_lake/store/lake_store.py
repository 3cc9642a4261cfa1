"""``LakeStore``: feature tables under one root URI, resolved by DuckDB.

The facade: it checks and names the store's settings, then hands each operation to the
module that does it (``reading``, ``writing``, ``maintenance``, ``resolving``), inside a
guard that turns a storage library's failure into ``StorageAccessError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw

from metaxy_lake.catalog import Commit
from metaxy_lake.catalog.snapshots import DEFAULT_PROJECT, PushResult, SnapshotRecord
from metaxy_lake.credentials import expand, redact_uri
from metaxy_lake.engine.hashing import check_algorithm
from metaxy_lake.engine.session import EngineSession
from metaxy_lake.errors import StoreConfigError
from metaxy_lake.formats import DEFAULT_COMMIT_TIMEOUT_S, TableFormat, TableRef, load_format
from metaxy_lake.graph import FeatureGraph, FeatureKey, FeatureRef
from metaxy_lake.graph.snapshot import GraphSnapshot
from metaxy_lake.increment import Increment
from metaxy_lake.storage import StorageConfig
from metaxy_lake.store import doctor, snapshots
from metaxy_lake.store.audit.audits import Audits
from metaxy_lake.store.doctor import Damage
from metaxy_lake.store.options import feature_name, format_options, normalize_root
from metaxy_lake.store.resolve import resolving
from metaxy_lake.store.resolve.scope import ResolveScope
from metaxy_lake.store.spec import StoreSpec
from metaxy_lake.store.tables import reading
from metaxy_lake.store.tables.chain import fallback_links
from metaxy_lake.store.tables.commit import WriteResult
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.store.write import maintenance, writing
from metaxy_lake.types import AsOfLike, Filters, FiltersByFeature, FrameLike

DEFAULT_RETENTION = maintenance.DEFAULT_RETENTION

AUTO: Any = "<auto>"
"""``push_graph``'s default ``git_commit``: detect it from the working directory."""


@dataclass(frozen=True)
class PinnedStore:
    """A fallback store read as it was at one time (``LakeStore.pinned``).

    Attributes:
        store: The store.
        as_of: The time (aware, UTC) its tables are read as of.
    """

    store: LakeStore
    as_of: dt.datetime


class LakeStore(Audits):
    """Feature metadata in lakehouse tables under one root, resolved by DuckDB.

    Args:
        root: Local directory (or URI) holding ``features/<key parts joined by __>/``.
        format: Table format name: ``"delta"`` (default), ``"iceberg"`` or ``"lance"``.
        hash_algorithm: Record hash algorithm: ``"md5"`` or ``"sha256"``.
        storage_options: Object-store settings (``endpoint_url``, ``region``,
            ``access_key_id``, ``secret_access_key``, ``session_token``, ``allow_http``);
            unset ones come from the standard AWS environment variables. A value may be a
            ``${VAR}`` reference, expanded from the environment of each process that opens
            the store: the way to hand a credential to workers (``spec`` carries the
            reference; a literal credential never leaves this process).
        read_only: Refuse every write, delete and maintenance with ``ReadOnlyStoreError``.
        catalog: For ``format="iceberg"``: pyiceberg catalog properties
            (``{"type": "sql", "uri": "sqlite:///..."}``, ``{"type": "rest", ...}``); a
            local root defaults to an SQLite catalog at ``_catalog/iceberg.db``. Values
            may be ``${VAR}`` references, as in ``storage_options``.
        namespace: For ``format="iceberg"``: the catalog namespace (``metaxy``).
        commit_timeout_s: How long a commit keeps retrying conflicts with other writers
            before it raises ``CommitConflictError`` (nothing committed).
        engine: The DuckDB session to scan in; stores share the process's by default, so
            relations of several stores can meet in one query.
        project: The project whose graph snapshots the store records and reads.
        fallback: Stores (or ``store.pinned(time)``) to read what this one lacks, sample
            by sample, in order: for each sample, the rows of the first store of the chain
            holding any row of it (tombstones included). They are only ever read; writes,
            deletes, compaction, expiry and pushes go to this store.
        name: How ``read(..., with_store=True)`` names rows from this store (its root by
            default).
        retention: The history ``expire`` keeps by default (7 days); reads, lineage and
            audits as of an earlier time fail with ``TimeTravelError`` naming the horizon.

    Example:
        >>> store = LakeStore("/tmp/metaxy")  # doctest: +SKIP
        >>> store.write(Video, videos)  # doctest: +SKIP
        >>> inc = store.resolve_update(Crop)  # doctest: +SKIP
    """

    def __init__(
        self,
        root: str | Path,
        *,
        format: str = "delta",
        hash_algorithm: str = "md5",
        storage_options: Mapping[str, str] | None = None,
        read_only: bool = False,
        catalog: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        commit_timeout_s: float = DEFAULT_COMMIT_TIMEOUT_S,
        engine: EngineSession | None = None,
        project: str = DEFAULT_PROJECT,
        fallback: Sequence[LakeStore | PinnedStore] = (),
        name: str | None = None,
        retention: dt.timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.root = normalize_root(root)
        # ${VAR} references expand here, from this process's environment; the spec keeps them
        self.storage = StorageConfig.resolve(storage_options)
        expanded = None if catalog is None else expand(catalog, "catalog")
        options = format_options(format, expanded, namespace, read_only)
        self.format: TableFormat = load_format(
            format, self.root, self.storage, options, commit_timeout_s
        )
        self.hash_algorithm = check_algorithm(hash_algorithm)
        self.read_only = read_only
        self.engine = engine or EngineSession.shared()
        self.engine.use_algorithm(self.hash_algorithm)
        self.name = name or self.root
        ctx = StoreContext(
            self.root,
            self.format,
            self.storage,
            self.engine,
            self.hash_algorithm,
            read_only,
            repr(self),
            project,
            self.name,
            retention=retention,
        )
        self._ctx = replace(ctx, fallback=fallback_links(ctx, [_entry(f) for f in fallback]))
        self.spec = StoreSpec(
            self.root,
            format,
            self.hash_algorithm,
            dict(storage_options or {}),
            read_only,
            None if catalog is None else dict(catalog),
            namespace,
            commit_timeout_s,
            project,
            tuple(_spec_entry(f) for f in fallback),
            name,
            retention.total_seconds(),
        )
        """The store's configuration as plain data: ``spec.open()`` opens it in any process."""

    @property
    def fallback(self) -> list[str]:
        """The names of the stores this one falls back to, in the chain's order."""
        return [link.ctx.name for link in self._ctx.fallback]

    def pinned(self, as_of: AsOfLike) -> PinnedStore:
        """This store as a fallback read as it was at ``as_of`` (an aware time or ISO text).

        Raises:
            StoreConfigError: ``as_of`` is a table version (a pin is a time) or no time.
        """
        when = reading.parse_as_of(as_of)
        if not isinstance(when, dt.datetime):
            raise StoreConfigError(f"a pin is a time, not a table version: got {as_of!r}")
        return PinnedStore(self, when)

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"LakeStore({redact_uri(self.root)!r}, format={self.format.name!r}{mode})"

    def context(self) -> StoreContext:
        """The store seen from inside (its settings and chain), for the modules of ``store``."""
        return self._ctx

    def table_ref(self, key: FeatureKey) -> TableRef:
        """Where a feature's table lives: ``<root>/features/<key parts joined by __>``."""
        return self._ctx.table_ref(key)

    def table_uri(self, key: FeatureKey) -> str:
        """The URI of a feature's table."""
        return self.table_ref(key).uri

    def write(
        self, feature: FeatureRef, frame: FrameLike, write_id: str | None = None
    ) -> WriteResult:
        """Append rows of a feature in one commit, after validating all of them.

        Root rows carry ``metaxy_provenance_by_field``; other rows are the new or stale
        rows of ``resolve_update`` (with the user columns added). The increment's extra
        columns are dropped; system columns are computed and stamped.

        Args:
            feature: The feature class or key.
            frame: Any narwhals-compatible frame.
            write_id: Caller-supplied id for idempotent retries; if the table's recent
                history holds it, nothing is written and the earlier commit is returned.

        Raises:
            InvalidFrameError: A subclass naming what is wrong; nothing is written.
            ReadOnlyStoreError: The store is read-only.
            CommitConflictError: Other writers kept winning until ``commit_timeout_s``.
            CommitStateUnknownError: It may have landed and history cannot tell: retry
                with the same ``write_id``.
            StorageAccessError: The object store failed a request.
        """
        with self._ctx.guard(f"write of {feature_name(feature)}"):
            return writing.write(self._ctx, feature, frame, write_id)

    def read(
        self,
        feature: FeatureRef,
        *,
        filters: Filters = None,
        columns: Sequence[str] | None = None,
        include_history: bool = False,
        include_deleted: bool = False,
        as_of: AsOfLike | None = None,
        with_store: bool = False,
    ) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """Read a feature's live rows as a lazy narwhals frame over DuckDB.

        Through a fallback chain, each sample's rows come from the first store of the
        chain holding any row of it; filters apply after that choice.

        Args:
            feature: The feature class or key.
            filters: A narwhals expression or a sequence of them (ANDed).
            columns: Columns to return (all by default).
            include_history: Return every row ever written, tombstones included.
            include_deleted: Also return samples whose latest row is a tombstone.
            as_of: Read the table as it was: an aware datetime or ISO 8601 text (the
                latest commit at or before it), or a table version (of a store without
                fallbacks). A pinned fallback is read as of the earlier of both times.
            with_store: Add ``metaxy_store``: the name (or root) of the store each row
                came from.

        Raises:
            TimeTravelError: ``as_of`` is before the table existed, or expired.
            StorageAccessError: The object store failed a request.
        """
        with self._ctx.guard(f"read of {feature_name(feature)}"):
            return reading.read(
                self._ctx,
                feature,
                filters=filters,
                columns=columns,
                include_history=include_history,
                include_deleted=include_deleted,
                as_of=as_of,
                with_store=with_store,
            )

    def history(self, feature: FeatureRef, limit: int | None = None) -> list[Commit]:
        """The commits of a feature's table, newest first (empty if it has none).

        Through a fallback chain: each store's commits in the chain's order (a pinned
        store's up to its pin), each naming its store; ``limit`` applies per store.
        """
        with self._ctx.guard(f"history of {feature_name(feature)}"):
            return reading.history(self._ctx, feature, limit)

    def delete(self, feature: FeatureRef, filters: Filters, *, soft: bool = True) -> WriteResult:
        """Delete the samples whose live row matches ``filters``.

        A soft delete appends tombstones (the table stays append-only); a hard delete
        removes every row of the matching samples, history included. No match commits
        nothing.

        Args:
            feature: The feature class or key.
            filters: A narwhals expression or a sequence of them (ANDed).
            soft: Append tombstones (default) rather than rewrite files.
        """
        with self._ctx.guard(f"delete from {feature_name(feature)}"):
            return writing.delete(self._ctx, feature, filters, soft)

    def compact(self, feature: FeatureRef) -> WriteResult:
        """Rewrite a feature's small data files into large ones; every row is kept."""
        with self._ctx.guard(f"compaction of {feature_name(feature)}"):
            return maintenance.compact(self._ctx, feature)

    def expire(
        self, feature: FeatureRef, older_than: dt.timedelta | None = None, force: bool = False
    ) -> int:
        """Remove table versions older than ``older_than`` (the store's retention by default).

        Also removes the feature's checkpoint files that no resolve starts from any more
        (all but the newest of each scope).

        Args:
            feature: The feature class or key.
            older_than: The history to keep.
            force: Expire even versions the newest checkpoint of a target still reads
                (its next resolve then scans in full).

        Returns:
            How many versions or files the format removed.

        Raises:
            ExpiryRefusedError: Without ``force``, a version to remove is still read by
                the newest checkpoint of some target (of this store).
        """
        with self._ctx.guard(f"expiry of {feature_name(feature)}"):
            return maintenance.expire(self._ctx, feature, older_than, force)

    def resolve_update(
        self,
        feature: FeatureRef,
        *,
        samples: FrameLike | None = None,
        filters: FiltersByFeature | None = None,
        global_filters: Filters = None,
        staleness_predicates: Filters = None,
        shard: tuple[int, int] | None = None,
        checkpoint: bool = True,
        scope: ResolveScope | None = None,
    ) -> Increment:
        """Compute what a feature needs to (re)compute, in one DuckDB query.

        On a writable store the resolve records a checkpoint, and the next resolve of the
        same feature and scope starts from it: only the samples pending then and those
        whose rows were appended since are hashed and compared (DESIGN section 5). The
        result is the same either way; ``Increment.path`` says which was taken.

        Args:
            feature: The feature class or key.
            samples: For a root feature, the complete current set of samples (ids and
                ``metaxy_provenance_by_field``); without it a root has nothing to resolve.
            filters: Feature (the target or one of its deps) → narwhals expression(s)
                applied to that feature's live rows.
            global_filters: Expression(s) applied to every dep and to the target.
            staleness_predicates: Expression(s) on the target's stored live rows; a match
                is stale.
            shard: ``(index, count)``: keep only this shard of samples.
            checkpoint: False: neither start from a checkpoint nor record one.
            scope: ``filters``, ``global_filters``, ``staleness_predicates`` and
                ``shard`` as one value (instead of them).

        Raises:
            UnknownFeatureError: The feature, or a filter's feature, is unknown.
            ScopeArgumentsError: ``scope`` and any of the arguments it replaces.
            MissingUpstreamValueError: A required upstream data version is null.
            StorageAccessError: The object store failed a request.
        """
        with self._ctx.guard(f"resolve of {feature_name(feature)}"):
            given = ResolveScope.given(scope, filters, global_filters, staleness_predicates, shard)
            return resolving.resolve_update(
                self._ctx, feature, scope=given, samples=samples, checkpoint=checkpoint
            )

    def push_graph(
        self,
        message: str | None = None,
        git_commit: str | None = AUTO,
        tags: Mapping[str, str] | None = None,
        graph: FeatureGraph | None = None,
    ) -> PushResult:
        """Record the feature graph as a snapshot in the catalog, unless it is the latest.

        Args:
            message: A note kept with the recording.
            git_commit: The commit that declared the graph (detected from the working
                directory by default; None records none).
            tags: Free-form labels kept with the recording.
            graph: The graph to record (the current one by default).

        Returns:
            Whether it was recorded now and the diff against the previous snapshot.
        """
        commit_id = snapshots.detect_git_commit() if git_commit is AUTO else git_commit
        with self._ctx.guard("graph push"):
            return snapshots.push_graph(
                self._ctx,
                graph or FeatureGraph.current(),
                message=message,
                git_commit=commit_id,
                tags=tags,
            )

    def graph_history(self) -> list[SnapshotRecord]:
        """Every recording of a graph snapshot of the project, newest first."""
        with self._ctx.guard("graph history"):
            return snapshots.graph_history(self._ctx)

    def load_snapshot(self, version: str | None = None) -> GraphSnapshot:
        """The feature definitions recorded under ``version`` (a unique prefix will do).

        Args:
            version: A snapshot version; the latest recorded by default.

        Raises:
            UnknownSnapshotError: No recorded snapshot has that version.
        """
        with self._ctx.guard("snapshot load"):
            return snapshots.load_snapshot(self._ctx, version)

    def doctor(self, *, repair: bool = False) -> list[Damage]:
        """List the store's damaged metadata; with ``repair``, set aside what is safe to.

        Looks at every feature table and the catalog: damaged last commits, data files
        gone, catalog rows that cannot be parsed, unreadable resolve checkpoints. A repair
        moves a damaged last commit or an unreadable checkpoint aside (never deletes).

        Args:
            repair: Set aside what can be (each item then says where it went).

        Returns:
            Each piece of damage found (empty: none); ``repaired`` is None where it remains.

        Raises:
            ReadOnlyStoreError: ``repair`` on a read-only store.
            StorageAccessError: The object store failed a request.
        """
        with self._ctx.guard("doctor"):
            return doctor.examine(self._ctx, repair)


def _entry(entry: object) -> tuple[StoreContext, dt.datetime | None]:
    if isinstance(entry, PinnedStore):
        return entry.store.context(), entry.as_of
    if isinstance(entry, LakeStore):
        return entry.context(), None
    raise StoreConfigError(
        f"fallback entries are LakeStore objects or store.pinned(time), got {entry!r}"
    )


def _spec_entry(entry: LakeStore | PinnedStore) -> tuple[StoreSpec, str | None]:
    if isinstance(entry, PinnedStore):
        return entry.store.spec, entry.as_of.isoformat()
    return entry.spec, None
