"""Lance datasets through pylance.

Table properties live in the dataset's schema metadata; commit metadata in each
transaction's properties. DuckDB scans a dataset as an Arrow dataset, with projection and
filter pushdown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import lance
import pyarrow as pa
from lance.fragment import FragmentMetadata, write_fragments
from lance.optimize import Compaction

from metaxy_lake.errors import CommitStateUnknownError, TimeTravelError
from metaxy_lake.failpoints import COMPACT_AFTER_REWRITE, failpoint
from metaxy_lake.formats.base import LakeTable, TableFormat
from metaxy_lake.formats.capabilities import ALL_CAPABILITIES, Capability
from metaxy_lake.formats.outcomes import StorageErrors, transport_failure
from metaxy_lake.formats.retrying import retry_vanished
from metaxy_lake.formats.values import (
    AsOf,
    CommitRecord,
    DatasetScan,
    ScanSource,
    Staged,
    TableRef,
    arrow_schema,
)
from metaxy_lake.schema import COMMIT_OPERATION, COMMIT_PREFIX, COMMIT_ROWS
from metaxy_lake.storage import object_store_options

_CONFLICT_MARKERS = ("Too many concurrent writers", "conflict", "Retryable commit")
_STORAGE_MARKERS = ("lanceerror(io)", "generic s3 error")
"""Lance raises ``ValueError("LanceError(IO): ...")`` for a failed request (measured)."""
_VANISHED_MARKERS = (".manifest", ".txn")
"""A version's manifest or transaction file, named in a "not found" error."""

UNVERIFIED_AGE = dt.timedelta(days=7)
"""How old a file no version references must be before ``cleanup_old_versions`` removes it
without ``delete_unverified`` (pylance 14; no parameter changes it)."""


def _vanished(exc: Exception) -> bool:
    """Whether expiry removed a version's manifest or transaction that a read had listed.

    Measured while ``expire(older_than=0)`` runs: "_versions/N.manifest not found" from a
    commit whose read version was removed, and from ``versions()``; a fresh read lists again.
    """
    text = str(exc)
    return (
        isinstance(exc, OSError | ValueError | RuntimeError)
        and "not found" in text.lower()
        and any(marker in text for marker in _VANISHED_MARKERS)
    )


class _Moved(Exception):
    """Commits other than appends landed since a compaction read the table: plan again."""


def _is_conflict(exc: Exception) -> bool:
    return (
        isinstance(exc, _Moved)
        or _vanished(exc)
        or (
            isinstance(exc, OSError | RuntimeError)
            and any(marker in str(exc) for marker in _CONFLICT_MARKERS)
        )
    )


def _load(uri: str, options: dict[str, str] | None, **at: Any) -> Any:
    """The dataset at ``uri`` (as of ``version=`` or ``asof=`` when given)."""
    return retry_vanished(lambda: lance.dataset(uri, storage_options=options, **at), _vanished)


def _naive_utc(when: dt.datetime) -> dt.datetime:
    """Lance's ``asof`` and version timestamps are naive UTC."""
    return when.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class _Staged(Staged):
    fragments: list[FragmentMetadata]


class LanceTable(LakeTable):
    """A Lance dataset opened at one version."""

    def __init__(self, ref: TableRef, dataset: Any, options: dict[str, str] | None) -> None:
        self.ref = ref
        self._dataset = dataset
        self._options = options

    @property
    def version(self) -> int:
        """The Lance version (from 1)."""
        return int(self._dataset.version)

    @property
    def schema(self) -> pa.Schema:
        """The dataset's Arrow schema."""
        return arrow_schema(self._dataset.schema)

    @property
    def properties(self) -> Mapping[str, str]:
        """The schema metadata, decoded."""
        raw = self._dataset.schema.metadata or {}
        return {k.decode(): v.decode() for k, v in raw.items()}

    def scan(self) -> ScanSource:
        """The dataset itself: DuckDB pushes projections and filters into it."""
        return DatasetScan(self._dataset, self.schema)

    def file_count(self) -> int:
        """Data files of this version, over all fragments."""
        return sum(len(f.data_files()) for f in self._dataset.get_fragments())

    def _files(self, version: int | None) -> dict[str, int] | None:
        """Each fragment, named by its id, data files and deletion file, with its rows."""
        if version is None:
            return {}
        dataset = self._dataset
        if version != self.version:
            dataset = _load(self.ref.uri, self._options, version=version)
        out = {}
        for fragment in dataset.get_fragments():
            meta = fragment.metadata
            files = ",".join(f.path for f in meta.files)
            deletions = meta.deletion_file.path(fragment.fragment_id) if meta.deletion_file else ""
            out[f"{fragment.fragment_id}|{files}|{deletions}"] = int(fragment.count_rows())
        return out

    def _scan_files(self, files: Sequence[str], columns: Sequence[str]) -> ScanSource:
        ids = {int(name.split("|", 1)[0]) for name in files}
        fragments = [f for f in self._dataset.get_fragments() if f.fragment_id in ids]
        table = self._dataset.scanner(fragments=fragments, columns=list(columns)).to_table()
        return DatasetScan(table, self.schema)

    def _commits_between(self, version: int) -> list[CommitRecord] | None:
        """Lance numbers versions one by one: read only the transactions in between."""

        def read() -> list[CommitRecord] | None:
            kept = {int(v["version"]): v["timestamp"] for v in self._dataset.versions()}
            wanted = range(self.version, version, -1)
            if version > self.version or version not in kept or any(v not in kept for v in wanted):
                return None
            return [self._record(self._dataset, v, kept[v]) for v in wanted]

        return retry_vanished(read, _vanished)

    def _reload(self) -> None:
        self._dataset = _load(self.ref.uri, self._options)

    def stage(self, data: pa.Table) -> _Staged:
        """Write fragments that no version references yet."""
        return _Staged(write_fragments(data, self.ref.uri, storage_options=self._options))

    def commit(self, staged: Staged, metadata: Mapping[str, str]) -> int:
        """Commit the staged fragments in one transaction carrying ``metadata``."""
        assert isinstance(staged, _Staged)  # only this format's stage makes them

        def attempt() -> Any:
            self._reload()
            transaction = lance.Transaction(
                read_version=self._dataset.version,
                operation=lance.LanceOperation.Append(staged.fragments),
                transaction_properties=dict(metadata),
            )
            return self._commit_transaction(transaction)

        self._dataset = self._retry(attempt, "append to")
        return self._committed_version(metadata, self.version)

    def _is_conflict(self, exc: Exception) -> bool:
        """A conflict, or a data file "not found" while the table has moved on.

        A compaction and an expiry removed the file since the attempt's version; while
        the table has not moved on, the file is missing for good and the error stands.
        """
        if _is_conflict(exc):
            return True
        if isinstance(exc, OSError | ValueError | RuntimeError) and "not found" in str(exc).lower():
            read = self.version
            self._reload()
            return self.version != read
        return False

    def _commit_transaction(self, transaction: Any) -> Any:
        try:
            return lance.LanceDataset.commit(
                self.ref.uri, transaction, storage_options=self._options
            )
        except OSError as exc:  # the manifest's PUT may have reached the server
            if not _is_conflict(exc) and transport_failure(exc):
                raise CommitStateUnknownError(f"commit to {self.ref.name}: {exc}") from exc
            raise

    def add_columns(self, fields: Sequence[pa.Field]) -> None:
        """Add all-null columns."""
        self._reload()
        self._dataset.add_columns(pa.schema(list(fields)))
        self._reload()

    def delete_keys(self, keys: pa.Table, metadata: Mapping[str, str]) -> int:
        """Delete matching rows with a merge-insert (values never enter SQL text)."""
        key_schema = pa.schema([self._dataset.schema.field(c) for c in keys.column_names])

        def attempt() -> Any:
            self._reload()
            builder = self._dataset.merge_insert(keys.column_names).when_matched_delete()
            transaction, _ = builder.execute_uncommitted(keys.cast(key_schema))
            transaction.transaction_properties = dict(metadata)
            return self._commit_transaction(transaction)

        self._dataset = self._retry(attempt, "delete from")
        return self.version

    def history(self, limit: int | None = None) -> list[CommitRecord]:
        """Versions newest first (as stored now), with each transaction's properties."""

        def read() -> list[CommitRecord]:
            latest = _load(self.ref.uri, self._options)
            versions = sorted(latest.versions(), key=lambda v: v["version"], reverse=True)
            return [
                self._record(latest, int(e["version"]), cast(dt.datetime, e["timestamp"]))
                for e in versions[:limit]
            ]

        return retry_vanished(read, _vanished)

    @staticmethod
    def _record(dataset: Any, version: int, timestamp: dt.datetime) -> CommitRecord:
        """One version as a commit: its transaction's operation and properties."""
        transaction = dataset.read_transaction(version)
        props = dict(transaction.transaction_properties or {}) if transaction else {}
        operation = type(transaction.operation).__name__ if transaction else ""
        rows = props.get(COMMIT_ROWS)
        return CommitRecord(
            version=version,
            timestamp=timestamp.replace(tzinfo=dt.UTC),
            operation=operation.lower(),
            rows=int(rows) if rows is not None else None,
            metadata={k: v for k, v in props.items() if k.startswith(COMMIT_PREFIX)},
        )

    def first_commit_at(self) -> dt.datetime | None:
        """The time of version 1 (Lance counts from 1), while it is kept."""
        versions = retry_vanished(lambda: _load(self.ref.uri, self._options).versions(), _vanished)
        oldest = min(versions, key=lambda v: v["version"])
        if int(oldest["version"]) != 1:
            return None
        return cast(dt.datetime, oldest["timestamp"]).replace(tzinfo=dt.UTC)

    def compact(self, metadata: Mapping[str, str]) -> int | None:
        """Compact small fragments; every row is kept.

        Planned and rewritten at the version read, then committed over the latest version
        once every commit in between is checked to be an append (else planned again).
        pylance's own compaction commits over the version it read and leaves the check of
        the commits in between to Lance, which skips a commit whose transaction file expiry
        removed meanwhile: a hard delete committed in between was undone (its rows came
        back; measured with ``expire(older_than=0)`` racing, 1 run in ~9). The commit is a
        rewrite without transaction properties, so ``metadata`` is not recorded (the
        format lacks ``Capability.COMPACTION_METADATA``, as pylance's own compaction does).
        Lance still checks the commits that land after the latest version read here, in
        the milliseconds before the commit; a delete undone there would need an expiry to
        remove it within them.
        """

        def attempt() -> int | None:
            self._reload()
            read = self._dataset
            plan = Compaction.plan(read, {})
            if plan.num_tasks() == 0:
                return None
            # pylance 14 names them `original_fragments` (its stub says `old_fragments`)
            rewrites: list[Any] = [task.execute(read) for task in plan.tasks]
            failpoint(COMPACT_AFTER_REWRITE)
            latest = _load(self.ref.uri, self._options)
            self._check_appends_between(latest, int(read.version))
            groups = [
                lance.LanceOperation.RewriteGroup(r.original_fragments, r.new_fragments)
                for r in rewrites
            ]
            transaction = lance.Transaction(
                read_version=latest.version,
                operation=lance.LanceOperation.Rewrite(groups, []),
            )
            self._dataset = self._commit_transaction(transaction)
            return self.version

        return self._retry(attempt, "compaction of")

    def _check_appends_between(self, latest: Any, read: int) -> None:
        """Raise ``_Moved`` unless every commit after ``read`` up to ``latest`` appended.

        A commit whose transaction can no longer be read (expired) counts as moved too.
        """
        for version in range(read + 1, int(latest.version) + 1):
            try:
                transaction = latest.read_transaction(version)
            except (OSError, ValueError, RuntimeError) as exc:
                raise _Moved(f"version {version} of {self.ref.name}: {exc}") from exc
            if transaction is None or type(transaction.operation).__name__ != "Append":
                raise _Moved(f"version {version} of {self.ref.name} is no append")

    def expire(self, older_than: dt.datetime) -> int:
        """Remove versions older than ``older_than`` (never the latest) and their files.

        Never with ``delete_unverified``: it removes every file no version references yet,
        whatever its age, a writer's staged files among them (the writer's commit then
        references missing files and the table cannot be read again). Without it, Lance
        keeps such files ``UNVERIFIED_AGE``, beyond ``STAGED_FILE_GRACE``.
        """

        def attempt() -> int:
            self._reload()
            age = dt.datetime.now(dt.UTC) - older_than
            stats = self._dataset.cleanup_old_versions(older_than=max(age, dt.timedelta(0)))
            self._reload()
            return int(stats.old_versions)

        return self._retry(attempt, "expiry of")


class LanceFormat(TableFormat):
    """Lance: columnar datasets with versions, committed by conditional put."""

    name = "lance"
    capabilities = ALL_CAPABILITIES - {Capability.COMPACTION_METADATA}
    storage_errors = StorageErrors(markers=_STORAGE_MARKERS)
    unreferenced_files_kept = UNVERIFIED_AGE

    def _open(self, ref: TableRef, as_of: AsOf | None) -> LanceTable | None:
        """Open the latest version, or one as of a version or a time."""
        options = object_store_options(self.root, self.storage)
        try:
            dataset = _load(ref.uri, options)
        except (OSError, ValueError) as exc:
            if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
                return None
            raise
        if as_of is not None:
            try:
                if isinstance(as_of, int):
                    dataset = lance.dataset(ref.uri, version=as_of, storage_options=options)
                else:
                    when = _naive_utc(as_of)
                    first = min(cast(dt.datetime, v["timestamp"]) for v in dataset.versions())
                    if when < first:
                        raise ValueError(f"the first version is from {first.isoformat()}")
                    dataset = lance.dataset(ref.uri, asof=when, storage_options=options)
            except (OSError, ValueError) as exc:
                raise TimeTravelError(
                    f"table {ref.uri} has no version as of {as_of} (before it existed, or "
                    f"expired): {exc}"
                ) from exc
        return LanceTable(ref, dataset, options)

    def _create(self, ref: TableRef, schema: pa.Schema, properties: Mapping[str, str]) -> None:
        """Create an empty dataset whose schema metadata holds the properties.

        An overwrite transaction read at version 0, committed with no retry: it fails when
        any version exists. ``write_dataset(mode="create")`` checks for the dataset once,
        then retries its overwrite on a conflict, so a creator that lost the race to
        version 1 committed an empty version 2 over the winner's first append (seen as a
        lost graph snapshot when two processes pushed at once, 1 run in 14).
        """
        transaction = lance.Transaction(
            read_version=0,
            operation=lance.LanceOperation.Overwrite(schema.with_metadata(dict(properties)), []),
            transaction_properties={COMMIT_OPERATION: "create"},
        )
        lance.LanceDataset.commit(
            ref.uri,
            transaction,
            storage_options=object_store_options(self.root, self.storage),
            max_retries=0,
        )

    def _is_create_conflict(self, exc: Exception) -> bool:
        return _is_conflict(exc)
