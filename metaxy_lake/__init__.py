"""metaxy_lake: which samples to (re)compute, with provenance kept in open lakehouse tables.

Example:
    >>> import metaxy_lake as mxl
    >>> store = mxl.LakeStore("/tmp/metaxy")  # doctest: +SKIP
"""

from metaxy_lake.catalog import Commit
from metaxy_lake.config import ProjectConfig, default_hash_length, load_config, open_store
from metaxy_lake.engine.session import EngineSession
from metaxy_lake.errors import (
    ColumnCollisionError,
    ColumnTypeError,
    CommitConflictError,
    CommitStateUnknownError,
    ConfigError,
    CycleError,
    DuplicateFeatureError,
    DuplicateSampleError,
    FeatureDefinitionError,
    HashSettingsMismatchError,
    InvalidFilterError,
    InvalidFrameError,
    InvalidKeyError,
    InvalidShardError,
    MetaxyLakeError,
    MissingColumnError,
    MissingIdColumnError,
    MissingProvenanceError,
    MissingUpstreamValueError,
    NullIdError,
    ProvenanceKeysError,
    ReadOnlyStoreError,
    SchemaEvolutionError,
    StorageAccessError,
    StoreConfigError,
    TableContractError,
    TimeTravelError,
    UndeclaredColumnError,
    UnknownDependencyError,
    UnknownFeatureError,
    UnknownFormatError,
    UnknownHashAlgorithmError,
    UnsupportedColumnTypeError,
    UnsupportedFormatVersionError,
    UnsupportedOperationError,
)
from metaxy_lake.graph import (
    Feature,
    FeatureDep,
    FeatureGraph,
    FeatureKey,
    FeatureSpec,
    FieldDep,
    FieldKey,
    FieldSpec,
    set_default_hash_length,
)
from metaxy_lake.ids import use_clock
from metaxy_lake.increment import Increment
from metaxy_lake.store import LakeStore, WriteResult
from metaxy_lake.types import AsOfLike, FeatureRef, FilterExpr, Filters, FiltersByFeature, FrameLike

set_default_hash_length(default_hash_length)  # the default graph reads metaxy_lake.toml

__version__ = "0.1.0"

__all__ = [
    "AsOfLike",
    "ColumnCollisionError",
    "ColumnTypeError",
    "Commit",
    "CommitConflictError",
    "CommitStateUnknownError",
    "ConfigError",
    "CycleError",
    "DuplicateFeatureError",
    "DuplicateSampleError",
    "EngineSession",
    "Feature",
    "FeatureDefinitionError",
    "FeatureDep",
    "FeatureGraph",
    "FeatureKey",
    "FeatureRef",
    "FeatureSpec",
    "FieldDep",
    "FieldKey",
    "FieldSpec",
    "FilterExpr",
    "Filters",
    "FiltersByFeature",
    "FrameLike",
    "HashSettingsMismatchError",
    "Increment",
    "InvalidFilterError",
    "InvalidFrameError",
    "InvalidKeyError",
    "InvalidShardError",
    "LakeStore",
    "MetaxyLakeError",
    "MissingColumnError",
    "MissingIdColumnError",
    "MissingProvenanceError",
    "MissingUpstreamValueError",
    "NullIdError",
    "ProjectConfig",
    "ProvenanceKeysError",
    "ReadOnlyStoreError",
    "SchemaEvolutionError",
    "StorageAccessError",
    "StoreConfigError",
    "TableContractError",
    "TimeTravelError",
    "UndeclaredColumnError",
    "UnknownDependencyError",
    "UnknownFeatureError",
    "UnknownFormatError",
    "UnknownHashAlgorithmError",
    "UnsupportedColumnTypeError",
    "UnsupportedFormatVersionError",
    "UnsupportedOperationError",
    "WriteResult",
    "__version__",
    "load_config",
    "open_store",
    "use_clock",
]
