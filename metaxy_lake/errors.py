"""Every error metaxy_lake raises, named for what went wrong.

All errors derive from :class:`MetaxyLakeError`. Definition errors (raised while a feature
class is being declared) derive from :class:`FeatureDefinitionError`; errors about a frame
handed to ``write`` or ``resolve_update`` derive from :class:`InvalidFrameError`. A failed
validation never leaves anything written.
"""

from __future__ import annotations

import datetime as dt


class MetaxyLakeError(Exception):
    """Base class of every metaxy_lake error."""


# --- definition time -------------------------------------------------------------------


class FeatureDefinitionError(MetaxyLakeError, ValueError):
    """A feature, field or graph definition is invalid."""


class InvalidKeyError(FeatureDefinitionError):
    """A feature or field key has an invalid part."""


class DuplicateFeatureError(FeatureDefinitionError):
    """Two features in one graph share a key."""


class CycleError(FeatureDefinitionError):
    """The feature graph would contain a cycle."""


class UnknownDependencyError(FeatureDefinitionError):
    """A dependency names a feature or field that does not exist."""


class UnsupportedColumnTypeError(FeatureDefinitionError):
    """A user column has a type with no lakehouse equivalent."""


class ColumnCollisionError(FeatureDefinitionError):
    """Upstream user columns collide across dependencies."""


class LineageError(FeatureDefinitionError):
    """A lineage relationship is incomplete, or the deps of a feature cannot be joined."""


# --- lookup ------------------------------------------------------------------------------


class UnknownFeatureError(MetaxyLakeError, KeyError):
    """A feature key is not defined in the feature graph."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ConfigError(MetaxyLakeError, ValueError):
    """A setting, given in code or in the project configuration, is invalid."""


class UnknownSnapshotError(MetaxyLakeError, KeyError):
    """No graph snapshot of that version is recorded in the store's catalog."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownFormatError(ConfigError):
    """A table format name is not registered."""


class StoreConfigError(ConfigError):
    """A store's configuration is incomplete or inconsistent."""


class UnknownHashAlgorithmError(ConfigError):
    """A hash algorithm name is not supported."""


class SecretExposureError(ConfigError):
    """A literal credential would leave the process (a ``StoreSpec`` pickled for a worker)."""


# --- frames handed in -------------------------------------------------------------------


class InvalidFrameError(MetaxyLakeError, ValueError):
    """A frame handed to metaxy_lake does not satisfy the feature's contract."""


class MissingIdColumnError(InvalidFrameError):
    """A frame lacks one of the feature's id columns."""


class NullIdError(InvalidFrameError):
    """An id column holds a null."""


class DuplicateSampleError(InvalidFrameError):
    """One frame holds the same sample id more than once."""


class ColumnTypeError(InvalidFrameError):
    """A column has a type that cannot be cast losslessly to the declared one."""


class MissingColumnError(InvalidFrameError):
    """A required user column is absent."""


class UndeclaredColumnError(InvalidFrameError):
    """A frame holds a column the feature does not declare."""


class MissingProvenanceError(InvalidFrameError):
    """A frame lacks the provenance or system columns its feature needs."""


class ProvenanceKeysError(InvalidFrameError):
    """Provenance map keys differ from the feature's declared fields."""


class DuplicateColumnError(InvalidFrameError):
    """A frame holds more than one column of the same name."""


class AmbiguousProvenanceError(InvalidFrameError):
    """A provenance value contains ``|``, which the hash recipe joins values with.

    Two different provenance maps could then hash alike (docs/on-disk-format.md, section 6).
    """


class MissingUpstreamValueError(MetaxyLakeError):
    """An upstream data version needed to compute provenance is missing (null)."""


# --- tables and stores ------------------------------------------------------------------


class TableContractError(MetaxyLakeError):
    """A lake table does not satisfy the on-disk contract."""


class UnsupportedFormatVersionError(TableContractError):
    """A table was written by a newer major format version than this library reads."""


class HashSettingsMismatchError(TableContractError):
    """A table was written with another hash algorithm or hash length."""


class SchemaEvolutionError(TableContractError):
    """A feature's columns changed in a way that append-only evolution cannot express."""


class TimeTravelError(MetaxyLakeError, ValueError):
    """An ``as_of`` names a moment before the table existed, or a version that is gone.

    Attributes:
        first_commit: The table's first commit, when ``as_of`` is a time before it (the
            table did not exist yet then); None otherwise.
    """

    def __init__(self, message: str, first_commit: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.first_commit = first_commit


class StorageAccessError(MetaxyLakeError):
    """The object store refused or failed a request (credentials, permissions, network).

    The message names the store and the operation.
    """


class DamagedMetadataError(MetaxyLakeError):
    """A table's or the catalog's metadata is damaged, so reading it would lose rows.

    An empty or unparseable commit file, a catalog row that cannot be parsed, a data file
    the table's log names but that is gone.

    Nothing was read or written past the damage. The message names the file; ``mxl doctor``
    lists a store's damage and ``mxl doctor --repair`` sets aside what can be set aside.

    Attributes:
        path: The damaged (or missing) file, where one is known.
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ReadOnlyStoreError(MetaxyLakeError):
    """A write, delete or push was attempted on a read-only store."""


class UnsupportedOperationError(MetaxyLakeError):
    """The store's table format cannot do this operation (it lacks the capability)."""


class CommitConflictError(MetaxyLakeError):
    """A commit kept conflicting with other writers until the deadline passed.

    Nothing was committed: the operation is safe to retry.
    """


class CommitStateUnknownError(MetaxyLakeError):
    """A commit may or may not have landed, and the table's history cannot tell.

    Retry with the same ``write_id``: a write id already committed is not written again.
    """


class InvalidShardError(MetaxyLakeError, ValueError):
    """A shard is not ``(index, count)`` with ``0 <= index < count``."""


class InvalidFilterError(MetaxyLakeError, ValueError):
    """A filter expression cannot be applied (an unknown column, a wrong type...)."""


class InvalidKindError(MetaxyLakeError, ValueError):
    """Kinds of samples to compute are not some of ``new`` and ``stale``."""


class ScopeArgumentsError(MetaxyLakeError, ValueError):
    """A resolve got ``scope=`` and also filters, predicates or a shard: pass one way."""


class ExpiryRefusedError(MetaxyLakeError):
    """``expire`` would remove a table version the newest checkpoint of a target reads."""
