"""``LakeStore``: feature tables under one root URI, resolved by DuckDB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import pyarrow as pa

from metaxy_lake.catalog import Commit, CommitInfo, commits_from_history
from metaxy_lake.engine import increment as inc
from metaxy_lake.engine.filesystems import object_store_localizer
from metaxy_lake.engine.hashing import check_algorithm
from metaxy_lake.engine.recipe import MISSING_UPSTREAM, HashSettings
from metaxy_lake.engine.relations import (
    Relation,
    arrow_types,
    connect,
    latest,
    narwhals_filter,
    scan,
    session,
)
from metaxy_lake.engine.sql import idents
from metaxy_lake.engine.stamping import Stamp, stamp_rows, tombstones
from metaxy_lake.errors import (
    CommitConflictError,
    MetaxyLakeError,
    MissingUpstreamValueError,
    ReadOnlyStoreError,
    StorageAccessError,
    StoreConfigError,
    TimeTravelError,
    UndeclaredColumnError,
    UnknownFeatureError,
)
from metaxy_lake.failpoints import WRITE_AFTER_COMMIT, WRITE_BEFORE_DATA_FILES, failpoint
from metaxy_lake.formats import AsOf, LakeTable, TableRef, load_format
from metaxy_lake.graph.definition import FeatureDefinition
from metaxy_lake.graph.feature_graph import FeatureGraph
from metaxy_lake.graph.keys import FeatureKey
from metaxy_lake.graph.spec import FeatureRef, feature_key_of
from metaxy_lake.ids import new_write_id, now_utc
from metaxy_lake.increment import Increment
from metaxy_lake.schema import table_schema
from metaxy_lake.storage import StorageConfig
from metaxy_lake.store.frames import prepare_samples, prepare_write, to_arrow
from metaxy_lake.store.tables import check_table, columns_to_add, stored_id_types, table_properties

FEATURES_DIR = "features"
DEFAULT_RETENTION = dt.timedelta(days=7)
HISTORY_WINDOW = 100
"""Commits searched for a caller-supplied write id (the idempotency window)."""


@dataclass(frozen=True)
class WriteResult:
    """The outcome of ``write`` or ``delete``.

    Attributes:
        write_id: The commit's write id.
        version: The table version it made (``None`` when nothing was committed).
        rows: Rows written (or deleted).
        replayed: True when the write id was already committed and nothing new was written.
    """

    write_id: str
    version: int | None
    rows: int
    replayed: bool = False


def _committed(table: LakeTable, write_id: str) -> WriteResult | None:
    """The commit of ``write_id`` within the table's recent history, if there is one."""
    try:
        commits = commits_from_history(table.history(HISTORY_WINDOW))
    except Exception:  # the history cannot be read either: the outcome stays unknown
        return None
    for commit in commits:
        if commit.write_id == write_id:
            return WriteResult(write_id, commit.version, commit.rows or 0, replayed=True)
    return None


def parse_as_of(as_of: dt.datetime | str | int | None) -> AsOf | None:
    """An ``as_of`` argument as a table version or an aware UTC datetime.

    Raises:
        TimeTravelError: A datetime (or ISO text) without a time zone.
    """
    if as_of is None or isinstance(as_of, int):
        return as_of
    when = dt.datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    if when.tzinfo is None:
        raise TimeTravelError(f"as_of {as_of!r} has no time zone; give one (e.g. +00:00)")
    return when.astimezone(dt.UTC)


def _exprs(filters: Any) -> list[Any]:
    if filters is None:
        return []
    if isinstance(filters, Sequence) and not isinstance(filters, str):
        return list(filters)
    return [filters]


class LakeStore:
    """Feature metadata in lakehouse tables under one root, resolved by DuckDB.

    Args:
        root: Local directory (or URI) holding ``features/<key parts joined by __>/``.
        format: Table format name: ``"delta"`` (default), ``"iceberg"`` or ``"lance"``.
        hash_algorithm: Record hash algorithm: ``"md5"`` or ``"sha256"``.
        storage_options: Object-store settings (``endpoint_url``, ``region``,
            ``access_key_id``, ``secret_access_key``, ``session_token``, ``allow_http``);
            unset ones come from the standard AWS environment variables.
        read_only: Refuse every write and delete with ``ReadOnlyStoreError``.
        catalog: For ``format="iceberg"``: pyiceberg catalog properties
            (``{"type": "sql", "uri": "sqlite:///..."}``, ``{"type": "rest", ...}``); a
            local root defaults to an SQLite catalog at ``_catalog/iceberg.db``.
        namespace: For ``format="iceberg"``: the catalog namespace (``metaxy``).

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
    ) -> None:
        text = str(root)
        self.root = text.rstrip("/") if "://" in text else str(Path(text).resolve())
        options: dict[str, Any] = {}
        if catalog is not None or namespace is not None:
            if format != "iceberg":
                raise StoreConfigError(
                    f"catalog= and namespace= apply to format='iceberg', not {format!r}"
                )
            options = {"catalog": catalog, "namespace": namespace or "metaxy"}
            if catalog is None:
                del options["catalog"]
        self.storage = StorageConfig.resolve(storage_options)
        self.format = load_format(format, self.root, self.storage, options)
        self.hash_algorithm = check_algorithm(hash_algorithm)
        self.read_only = read_only
        self._con: duckdb.DuckDBPyConnection = connect()
        self._localize = object_store_localizer(self._con, self.root, self.storage)

    def __repr__(self) -> str:
        mode = ", read_only=True" if self.read_only else ""
        return f"LakeStore({self.root!r}, format={self.format.name!r}{mode})"

    # --- helpers --------------------------------------------------------------------------

    def _resolve(self, feature: FeatureRef) -> tuple[FeatureDefinition, FeatureGraph]:
        graph = getattr(feature, "__metaxy_graph__", None)
        if not isinstance(graph, FeatureGraph):
            graph = FeatureGraph.current()
        return graph.get(feature), graph

    def _settings(self, graph: FeatureGraph) -> HashSettings:
        return HashSettings(self.hash_algorithm, graph.hash_length)

    def table_ref(self, key: FeatureKey) -> TableRef:
        """Where a feature's table lives: ``<root>/features/<key parts joined by __>``."""
        return TableRef(key.table_name, f"{self.root}/{FEATURES_DIR}/{key.table_name}")

    def table_uri(self, key: FeatureKey) -> str:
        """The URI of a feature's table."""
        return self.table_ref(key).uri

    @contextmanager
    def _storage(self, action: str) -> Iterator[None]:
        """Turn a storage library's failure into one error naming the store and the cause."""
        try:
            yield
        except MetaxyLakeError:
            raise
        except Exception as exc:
            raise StorageAccessError(
                f"{self!r}: {action} failed ({self.storage.describe()}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _open(
        self, definition: FeatureDefinition, settings: HashSettings, as_of: AsOf | None = None
    ) -> LakeTable | None:
        with self._storage(f"opening {definition.key}"):
            table = self.format.open(self.table_ref(definition.key), as_of)
        if table is not None:
            check_table(table, settings)
        return table

    def _rows(
        self,
        con: duckdb.DuckDBPyConnection,
        table: LakeTable | None,
        definition: FeatureDefinition,
        id_types: Mapping[str, Any],
    ) -> Relation:
        if table is None:
            schema = table_schema(definition.id_columns, id_types, definition.user_columns)
            return scan(con, None, schema)
        return scan(con, table.scan(), table.schema, self._localize)

    def _check_writable(self, action: str) -> None:
        if self.read_only:
            raise ReadOnlyStoreError(f"{self!r} is read-only: {action} refused")

    # --- write ----------------------------------------------------------------------------

    def write(self, feature: FeatureRef, frame: Any, write_id: str | None = None) -> WriteResult:
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
        """
        self._check_writable("write")
        definition, graph = self._resolve(feature)
        settings = self._settings(graph)
        table = self._open(definition, settings)
        if write_id is not None and table is not None:
            earlier = _committed(table, write_id)
            if earlier is not None:
                return earlier
        given = to_arrow(frame)
        con = session(self._con)  # the frame's temporary table lives and dies with it
        data = prepare_write(con, definition, given, stored_id_types(table, definition))
        new_columns = columns_to_add(table, definition) if table is not None else []
        write_id = write_id or new_write_id()
        if given.num_rows == 0:
            return WriteResult(write_id, None, 0)
        id_types = arrow_types(data, definition.id_columns)
        schema = table_schema(definition.id_columns, id_types, definition.user_columns)
        stamp = Stamp(
            graph.feature_version(definition.key), graph.snapshot_version(), now_utc(), write_id
        )
        rows = stamp_rows(definition, data, settings, stamp, schema)
        with self._storage(f"writing {definition.key}"):
            if table is None:
                ref = self.table_ref(definition.key)
                table = self.format.create(ref, schema, table_properties(definition, settings))
            elif new_columns:
                table.add_columns(new_columns)
            rows = rows.select(table.schema.names)  # the table's own column order
            info = CommitInfo(
                write_id, "write", stamp.feature_version, stamp.snapshot_version, len(rows)
            )
            failpoint(WRITE_BEFORE_DATA_FILES)
            try:
                version = table.append(rows, info.to_metadata())
            except CommitConflictError:
                raise  # known outcome: nothing was committed
            except Exception:
                # Outcome unknown (e.g. the connection dropped after the server committed):
                # the commit history, not the exception, says whether the batch landed.
                landed = _committed(table, write_id)
                if landed is None:
                    raise
                return landed
        failpoint(WRITE_AFTER_COMMIT)
        return WriteResult(write_id, version, rows.num_rows)

    # --- read -----------------------------------------------------------------------------

    def read(
        self,
        feature: FeatureRef,
        *,
        filters: Any = None,
        columns: Sequence[str] | None = None,
        include_history: bool = False,
        include_deleted: bool = False,
        as_of: dt.datetime | str | int | None = None,
    ) -> nw.LazyFrame[duckdb.DuckDBPyRelation]:
        """Read a feature's live rows as a lazy narwhals frame over DuckDB.

        Args:
            feature: The feature class or key.
            filters: A narwhals expression or a sequence of them (ANDed).
            columns: Columns to return (all by default).
            include_history: Return every row ever written, tombstones included.
            include_deleted: Also return samples whose latest row is a tombstone.
            as_of: Read the table as it was: an aware datetime or ISO 8601 text (the
                latest commit at or before it), or a table version.

        Raises:
            TimeTravelError: ``as_of`` is before the table existed, or expired.
        """
        definition, graph = self._resolve(feature)
        table = self._open(definition, self._settings(graph), parse_as_of(as_of))
        rows = self._rows(self._con, table, definition, stored_id_types(table, definition))
        if not include_history:
            rows = latest(rows, definition.id_columns, include_deleted=include_deleted)
        rows = narwhals_filter(rows, _exprs(filters))
        if columns is not None:
            unknown = [c for c in columns if c not in rows.columns]
            if unknown:
                raise UndeclaredColumnError(f"feature {definition.key} has no column(s) {unknown}")
            rows = rows.project(idents(columns))
        return nw.from_native(rows)

    def history(self, feature: FeatureRef, limit: int | None = None) -> list[Commit]:
        """The commits of a feature's table, newest first (empty if it has none)."""
        definition, graph = self._resolve(feature)
        table = self._open(definition, self._settings(graph))
        return [] if table is None else commits_from_history(table.history(limit))

    # --- delete ---------------------------------------------------------------------------

    def delete(self, feature: FeatureRef, filters: Any, *, soft: bool = True) -> WriteResult:
        """Delete the samples whose live row matches ``filters``.

        A soft delete appends tombstones (the table stays append-only); a hard delete
        removes every row of the matching samples, history included. No match commits
        nothing.

        Args:
            feature: The feature class or key.
            filters: A narwhals expression or a sequence of them (ANDed).
            soft: Append tombstones (default) rather than rewrite files.
        """
        self._check_writable("delete")
        definition, graph = self._resolve(feature)
        settings = self._settings(graph)
        write_id = new_write_id()
        table = self._open(definition, settings)
        if table is None:
            return WriteResult(write_id, None, 0)
        rows = self._rows(self._con, table, definition, {})
        matched = narwhals_filter(
            latest(rows, definition.id_columns, include_deleted=not soft), _exprs(filters)
        )
        stamp = Stamp(
            graph.feature_version(definition.key), graph.snapshot_version(), now_utc(), write_id
        )
        if soft:
            data = tombstones(matched, table.schema, list(definition.id_columns), stamp)
        else:
            data = matched.project(idents(definition.id_columns)).to_arrow_table()
        if data.num_rows == 0:
            return WriteResult(write_id, None, 0)
        operation = "delete" if soft else "hard_delete"
        info = CommitInfo(
            write_id, operation, stamp.feature_version, stamp.snapshot_version, data.num_rows
        )
        with self._storage(f"deleting from {definition.key}"):
            if soft:
                version = table.append(data, info.to_metadata())
            else:
                version = table.delete_keys(data, info.to_metadata())
        return WriteResult(write_id, version, data.num_rows)

    # --- maintenance ----------------------------------------------------------------------

    def compact(self, feature: FeatureRef) -> WriteResult:
        """Rewrite a feature's small data files into large ones; every row is kept."""
        self._check_writable("compact")
        definition, graph = self._resolve(feature)
        write_id = new_write_id()
        table = self._open(definition, self._settings(graph))
        if table is None:
            return WriteResult(write_id, None, 0)
        info = CommitInfo(
            write_id, "compact", graph.feature_version(definition.key), graph.snapshot_version(), 0
        )
        return WriteResult(write_id, table.compact(info.to_metadata()), 0)

    def expire(self, feature: FeatureRef, older_than: dt.timedelta = DEFAULT_RETENTION) -> int:
        """Remove table versions older than ``older_than`` (7 days by default).

        Returns:
            How many versions or files the format removed.
        """
        self._check_writable("expire")
        definition, graph = self._resolve(feature)
        table = self._open(definition, self._settings(graph))
        if table is None:
            return 0
        return table.expire(dt.datetime.now(dt.UTC) - older_than)

    # --- resolve --------------------------------------------------------------------------

    def resolve_update(
        self,
        feature: FeatureRef,
        *,
        samples: Any = None,
        filters: Mapping[FeatureRef, Any] | None = None,
        global_filters: Any = None,
        staleness_predicates: Any = None,
        shard: tuple[int, int] | None = None,
    ) -> Increment:
        """Compute what a feature needs to (re)compute, in one DuckDB query.

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

        Raises:
            UnknownFeatureError: The feature, or a filter's feature, is unknown.
            MissingUpstreamValueError: A required upstream data version is null.
        """
        definition, graph = self._resolve(feature)
        settings = self._settings(graph)
        per_feature = self._filters_by_feature(definition, graph, filters)
        global_exprs = _exprs(global_filters)
        if shard is not None and not (0 <= shard[0] < shard[1]):
            raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")

        con = session(self._con)  # the increment's temporary tables live and die with it
        target = self._open(definition, settings)
        id_types = stored_id_types(target, definition)
        if definition.is_root:
            if samples is None:  # a root has nothing to resolve without its current samples
                target = None
                samples = self._rows(con, None, definition, id_types).to_arrow_table()
            checked = prepare_samples(con, definition, to_arrow(samples), id_types)
            expected = inc.expected_from_samples(definition, checked, settings, global_exprs, shard)
            id_types = arrow_types(checked, definition.id_columns)
        else:
            upstream = []
            for dep in definition.deps:
                dep_def = graph.get(dep.key)
                dep_table = self._open(dep_def, settings)
                if dep_table is not None and target is None:
                    id_types = {
                        dep.id_columns[s]: t for s, t in stored_id_types(dep_table, dep_def).items()
                    }
                dep_types = {s: id_types.get(n, pa.string()) for s, n in dep.id_columns.items()}
                rows = self._rows(con, dep_table, dep_def, dep_types)
                upstream.append(inc.UpstreamInput(dep, rows, per_feature.get(dep.key, [])))
            expected = inc.expected_from_upstream(
                definition, upstream, settings, global_exprs, shard
            )
        target_rows = self._rows(con, target, definition, id_types)
        try:
            found = inc.compare(
                con,
                definition,
                expected,
                target_rows,
                [*per_feature.get(definition.key, []), *global_exprs],
                _exprs(staleness_predicates),
                shard,
            )
        except duckdb.Error as exc:
            if MISSING_UPSTREAM in str(exc):
                detail = str(exc).split(MISSING_UPSTREAM, 1)[1]
                raise MissingUpstreamValueError(detail) from exc
            raise
        return Increment(definition.key, found.new, found.stale, found.orphaned, found.counts)

    def _filters_by_feature(
        self,
        definition: FeatureDefinition,
        graph: FeatureGraph,
        filters: Mapping[FeatureRef, Any] | None,
    ) -> dict[FeatureKey, list[Any]]:
        allowed = {definition.key, *(d.key for d in definition.deps)}
        out: dict[FeatureKey, list[Any]] = {}
        for ref, exprs in (filters or {}).items():
            key = graph.get(feature_key_of(ref)).key
            if key not in allowed:
                raise UnknownFeatureError(
                    f"filters name {key}, which is neither {definition.key} nor one of its deps"
                )
            out.setdefault(key, []).extend(_exprs(exprs))
        return out
