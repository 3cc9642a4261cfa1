"""What every operation of one store needs: where it is, its format, its engine session.

``StoreContext`` is the store seen from inside: the facade (``LakeStore``) holds one and
hands it to the modules that do the work (``reading``, ``writing``, ``maintenance``,
``resolving``). Its ``fallback`` links are the read-only stores it falls back to, in order
(``store.chain``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from metaxy_lake.config.spec import StoreSpec
from metaxy_lake.engine.recipe import HashSettings
from metaxy_lake.engine.relations import Relation, scan
from metaxy_lake.engine.session import EngineSession
from metaxy_lake.errors import (
    DamagedMetadataError,
    MetaxyLakeError,
    ReadOnlyStoreError,
    StorageAccessError,
    TimeTravelError,
)
from metaxy_lake.formats import AsOf, LakeTable, TableFormat, TableRef
from metaxy_lake.formats.outcomes import missing_data_file, storage_failure
from metaxy_lake.graph import FeatureDefinition, FeatureGraph, FeatureKey, FeatureRef
from metaxy_lake.schema import table_schema
from metaxy_lake.storage import StorageConfig
from metaxy_lake.store.tables.contract import check_table

FEATURES_DIR = "features"


@dataclass
class CatalogCache:
    """What one store knows of its catalog: snapshot versions recorded, absence seen."""

    recorded: set[tuple[str, str]] = field(default_factory=set)
    absent_since: float | None = None


@dataclass(frozen=True)
class Link:
    """One fallback store of a chain: its read-only context, its pin.

    Attributes:
        ctx: The store, read-only, scanning in the primary's engine session.
        pin: Read the store as it was at this time (None: its latest version).
    """

    ctx: StoreContext
    pin: dt.datetime | None = None


@dataclass(frozen=True)
class StoreContext:
    """One store: root, table format, storage settings, engine session, hash algorithm.

    Attributes:
        label: How messages name the store (its ``repr``).
        project: The project whose graph snapshots the store records.
        name: How rows name the store they came from (``metaxy_store``).
        fallback: The stores read for the samples this one lacks, in order.
        catalog: What the store knows of its catalog (kept between operations).
        retention: The history ``expire`` keeps by default.
    """

    root: str
    format: TableFormat
    storage: StorageConfig
    engine: EngineSession
    hash_algorithm: str
    read_only: bool
    label: str
    project: str
    name: str
    retention: dt.timedelta
    fallback: tuple[Link, ...] = ()
    catalog: CatalogCache = field(default_factory=CatalogCache)

    @classmethod
    def of(
        cls,
        spec: StoreSpec,
        format: TableFormat,
        storage: StorageConfig,
        engine: EngineSession,
        label: str,
    ) -> StoreContext:
        """The context of a store opened from ``spec`` (its fallback chain linked later).

        Args:
            spec: The store's configuration.
            format: Its table format, opened from the spec.
            storage: Its storage settings, expanded from the spec.
            engine: The DuckDB session it scans in.
            label: How messages name it.
        """
        return cls(
            root=spec.root,
            format=format,
            storage=storage,
            engine=engine,
            hash_algorithm=spec.hash_algorithm,
            read_only=spec.read_only,
            label=label,
            project=spec.project,
            name=spec.name or spec.root,
            retention=spec.retention,
        )

    def resolve(self, feature: FeatureRef) -> tuple[FeatureDefinition, FeatureGraph]:
        """A feature's definition and the graph it belongs to.

        Raises:
            UnknownFeatureError: No feature has that key.
        """
        graph = getattr(feature, "__metaxy_graph__", None)
        if not isinstance(graph, FeatureGraph):
            graph = FeatureGraph.current()
        return graph.get(feature), graph

    def settings(self, graph: FeatureGraph) -> HashSettings:
        """The record hash settings of this store for features of ``graph``."""
        return HashSettings(self.hash_algorithm, graph.hash_length)

    def table_ref(self, key: FeatureKey) -> TableRef:
        """Where a feature's table lives: ``<root>/features/<key parts joined by __>``."""
        return TableRef(key.table_name, f"{self.root}/{FEATURES_DIR}/{key.table_name}")

    def open(
        self, definition: FeatureDefinition, settings: HashSettings, as_of: AsOf | None = None
    ) -> LakeTable | None:
        """Open a feature's table (None if it has none) and check its contract.

        Raises:
            TableContractError: The table breaks the on-disk contract (a subclass says how).
        """
        ref = self.table_ref(definition.key)
        try:
            table = self.format.open(ref, as_of)
        except TimeTravelError as exc:
            raise self._beyond(ref, definition, as_of) from exc
        if table is not None:
            check_table(table, settings)
        return table

    def _beyond(
        self, ref: TableRef, definition: FeatureDefinition, as_of: AsOf | None
    ) -> TimeTravelError:
        """Why a table cannot be read as of ``as_of``: not created yet, or past the horizon."""
        latest = self.format.open(ref)
        commits = latest.history() if latest is not None else []
        created = latest.first_commit_at() if latest is not None else None
        asked = as_of.isoformat() if isinstance(as_of, dt.datetime) else as_of
        what = f"{self.label}: {definition.key} has no version as of {asked}"
        if created is not None and isinstance(as_of, dt.datetime) and as_of < created:
            return TimeTravelError(
                f"{what}: the table did not exist yet (first commit {created.isoformat()})",
                first_commit=created,
            )
        horizon = min((c.timestamp for c in commits), default=None)
        kept = f"from {horizon.isoformat()} on" if horizon else "no history"
        return TimeTravelError(
            f"{what}: its history is kept {kept} (the horizon; "
            f"expire keeps {self.retention} by default); read a later time"
        )

    def rows(
        self,
        con: duckdb.DuckDBPyConnection,
        table: LakeTable | None,
        definition: FeatureDefinition,
        id_types: Mapping[str, pa.DataType],
    ) -> Relation:
        """Every row of a feature's table (a typed empty relation when it has none)."""
        if table is None:
            schema = table_schema(definition.id_columns, id_types, definition.user_columns)
            return scan(con, None, schema)
        localize = self.engine.localizer(self.root, self.storage)
        return scan(con, table.scan(), table.schema, localize)

    def check_writable(self, action: str) -> None:
        """Refuse ``action`` on a read-only store, before any request is sent."""
        if self.read_only:
            raise ReadOnlyStoreError(f"{self.label} is read-only: {action} refused")

    @contextmanager
    def guard(self, operation: str) -> Iterator[None]:
        """Name a failure of storage, or of a damaged table, with store and operation.

        A data file the table's log names but that is gone becomes
        ``DamagedMetadataError`` (a damaged metadata file is refused when the table is
        opened: ``TableFormat.open``); a storage failure (``OSError``, or an error the
        format declares in ``storage_errors``: ``formats.outcomes.storage_failure``),
        ``StorageAccessError``; anything else, a bug raised while handling a storage
        failure included, propagates as itself (calling it a network problem would
        mislead its reader).
        """
        try:
            yield
        except MetaxyLakeError:
            raise
        except Exception as exc:
            gone = missing_data_file(exc)
            if gone is not None:
                raise DamagedMetadataError(
                    f"{self.label}: {operation} failed: data file {gone} is named by its "
                    "table's log but is gone (deleted outside metaxy_lake, or by a "
                    "maintenance race); check the store with `mxl doctor`",
                    gone,
                ) from exc
            if not storage_failure(exc, self.format.storage_errors):
                raise
            raise StorageAccessError(
                f"{self.label}: {operation} failed ({self.storage.describe()}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
