"""``LakeStore``: feature tables under one root URI, resolved by DuckDB.

The facade: it checks and names the store's settings and hands each operation, inside the
store's guard (storage failures: ``StorageAccessError``), to the module that does it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.catalog import Commit
from metaxy_lake.catalog.snapshots import PushResult, SnapshotRecord
from metaxy_lake.config.spec import (
    DEFAULT_FORMAT,
    DEFAULT_HASH_ALGORITHM,
    DEFAULT_RETENTION,
    StoreSpec,
    normalize_root,
)
from metaxy_lake.credentials import redact_uri
from metaxy_lake.engine.hashing import check_algorithm
from metaxy_lake.engine.session import EngineSession
from metaxy_lake.errors import StoreConfigError
from metaxy_lake.formats import TableRef, load_format
from metaxy_lake.graph import FeatureGraph, FeatureKey, FeatureRef, feature_name
from metaxy_lake.graph.snapshot import GraphSnapshot
from metaxy_lake.increment import Increment
from metaxy_lake.schema import DEFAULT_PROJECT
from metaxy_lake.store import doctor, snapshots
from metaxy_lake.store.audit.audits import Audits
from metaxy_lake.store.doctor import Damage
from metaxy_lake.store.pinning import ChainStore, PinnedStore, entry_context, entry_spec
from metaxy_lake.store.resolve import resolving
from metaxy_lake.store.resolve.scope import ResolveScope
from metaxy_lake.store.snapshots import AUTO, GitCommit
from metaxy_lake.store.tables import reading
from metaxy_lake.store.tables.chain import fallback_links
from metaxy_lake.store.tables.commit import WriteResult
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.store.write import maintenance, writing
from metaxy_lake.types import AsOfLike, Filters, FiltersByFeature, FrameLike, SampleIds


class LakeStore:
    """Feature metadata in lakehouse tables under one root, resolved by DuckDB.

    Args:
        root: Local directory (or URI) holding ``features/<key parts joined by __>/``.
        format: Table format name: ``"delta"`` (default), ``"iceberg"`` or ``"lance"``.
        hash_algorithm: Record hash algorithm: ``"md5"``, ``"sha256"``, ``"xxhash64"``...
        storage_options: Object-store settings (``endpoint_url``, ``region``,
            ``access_key_id``, ``secret_access_key``, ``session_token``, ``allow_http``;
            unset ones from the AWS environment variables). A ``${VAR}`` reference expands
            where the store opens: how a credential reaches workers (``spec`` keeps it).
        read_only: Refuse every write, delete and maintenance with ``ReadOnlyStoreError``.
        catalog: For ``format="iceberg"``: pyiceberg catalog properties (``{"type": "sql",
            ...}``, ``${VAR}`` references allowed); a local root's default is SQLite.
        namespace: For ``format="iceberg"``: the catalog namespace (``metaxy``).
        commit_timeout_s: How long a commit retries conflicts before it raises
            ``CommitConflictError``, nothing committed (None: the format's, 120 s).
        engine: The DuckDB session to scan in; stores share the process's by default, so
            relations of several stores can meet in one query.
        project: The project whose graph snapshots the store records and reads.
        fallback: Stores (or ``store.pinned(time)``), only ever read, for what this one
            lacks: each sample's rows come from the first store of the chain holding any
            row of it (tombstones included).
        name: How ``read(..., with_store=True)`` names this store's rows (its root).
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
        format: str = DEFAULT_FORMAT,
        hash_algorithm: str = DEFAULT_HASH_ALGORITHM,
        storage_options: Mapping[str, str] | None = None,
        read_only: bool = False,
        catalog: Mapping[str, object] | None = None,
        namespace: str | None = None,
        commit_timeout_s: float | None = None,
        engine: EngineSession | None = None,
        project: str = DEFAULT_PROJECT,
        fallback: Sequence[LakeStore | PinnedStore] = (),
        name: str | None = None,
        retention: dt.timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.spec = StoreSpec(
            normalize_root(root),
            format=format,
            hash_algorithm=hash_algorithm,
            storage_options=dict(storage_options or {}),
            read_only=read_only,
            catalog=None if catalog is None else dict(catalog),
            namespace=namespace,
            commit_timeout_s=commit_timeout_s,
            project=project,
            fallback=tuple(entry_spec(f) for f in fallback),
            name=name,
            retention_s=retention.total_seconds(),
        )
        """The store's configuration as plain data: ``LakeStore.from_spec`` opens it anywhere."""
        self._open(engine, fallback)

    def _open(
        self, engine: EngineSession | None, fallback: Sequence[ChainStore | PinnedStore]
    ) -> None:
        spec = self.spec
        self.root = spec.root
        # ${VAR} references expand here, from this process's environment; the spec keeps them
        self.storage = spec.storage()
        timeout, options = spec.commit_timeout_s, spec.format_options()
        self.format = load_format(spec.format, spec.root, self.storage, options, timeout)
        self.hash_algorithm = check_algorithm(spec.hash_algorithm)
        self.read_only = spec.read_only
        self.engine = engine or EngineSession.shared()
        self.engine.use_algorithm(self.hash_algorithm)
        ctx = StoreContext.of(spec, self.format, self.storage, self.engine, repr(self))
        self._ctx = replace(ctx, fallback=fallback_links(ctx, [entry_context(f) for f in fallback]))
        self.name = ctx.name
        self._audits = Audits(self._ctx)

    @classmethod
    def from_spec(cls, spec: StoreSpec, engine: EngineSession | None = None) -> LakeStore:
        """Open the store ``spec`` describes (in ``engine``, this process's by default).

        Its fallback stores are opened from their specs, each pinned as the spec says;
        ``${VAR}`` references expand from this process's environment.

        Raises:
            StoreConfigError: A setting is invalid, or a referenced variable is not set.
        """
        chain: list[LakeStore | PinnedStore] = []
        for entry, pin in spec.fallback:
            store = cls.from_spec(entry)
            chain.append(store if pin is None else store.pinned(pin))
        store = cls.__new__(cls)
        store.spec = replace(
            spec, root=normalize_root(spec.root), fallback=tuple(entry_spec(f) for f in chain)
        )
        store._open(engine, chain)
        return store

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
            request = reading.ReadRequest(
                filters, columns, include_history, include_deleted, as_of, with_store
            )
            return reading.read(self._ctx, feature, request)

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
        whose rows were appended since are hashed and compared (docs/design.md, Checkpoints). The
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
            given = ResolveScope.of(
                filters, global_filters, staleness_predicates, shard, scope=scope
            )
            return resolving.resolve_update(
                self._ctx, feature, scope=given, samples=samples, checkpoint=checkpoint
            )

    def push_graph(
        self,
        message: str | None = None,
        git_commit: str | GitCommit | None = AUTO,
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
        with self._ctx.guard("graph push"):
            graph = graph or FeatureGraph.current()
            return snapshots.push_graph(
                self._ctx, graph, message=message, git_commit=git_commit, tags=tags
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

    def lineage(
        self,
        feature: FeatureRef,
        ids: SampleIds,
        as_of: AsOfLike | None = None,
        depth: int | None = None,
    ) -> nw.DataFrame[pa.Table]:
        """The exact rows that produced samples, recursively (documented at ``Audits.lineage``)."""
        return self._audits.lineage(feature, ids, as_of, depth)

    def explain(
        self,
        feature: FeatureRef,
        ids: SampleIds,
        *,
        filters: FiltersByFeature | None = None,
        global_filters: Filters = None,
        staleness_predicates: Filters = None,
        recursive: bool = False,
    ) -> nw.DataFrame[pa.Table]:
        """Why samples are new, stale or orphaned (documented at ``Audits.explain``)."""
        return self._audits.explain(
            feature, ids, filters, global_filters, staleness_predicates, recursive
        )

    def sample_status(
        self, ids: SampleIds, graph: FeatureGraph | None = None
    ) -> nw.DataFrame[pa.Table]:
        """Where samples stand in every feature of the graph (``Audits.sample_status``)."""
        return self._audits.sample_status(ids, graph)
