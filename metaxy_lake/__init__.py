"""metaxy_lake: which samples to (re)compute, with provenance kept in open lakehouse tables.

Example:
    >>> import metaxy_lake as mxl
    >>> store = mxl.LakeStore("/tmp/metaxy")  # doctest: +SKIP
"""

from metaxy_lake.catalog import Commit
from metaxy_lake.config import default_hash_length
from metaxy_lake.errors import (
    ColumnCollisionError,
    ColumnTypeError,
    CommitConflictError,
    CycleError,
    DuplicateFeatureError,
    DuplicateSampleError,
    FeatureDefinitionError,
    HashSettingsMismatchError,
    InvalidFrameError,
    InvalidKeyError,
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
from metaxy_lake.increment import Increment
from metaxy_lake.store import LakeStore, WriteResult

set_default_hash_length(default_hash_length)  # the default graph reads metaxy_lake.toml

__version__ = "0.1.0"

__all__ = [
    "ColumnCollisionError",
    "ColumnTypeError",
    "Commit",
    "CommitConflictError",
    "CycleError",
    "DuplicateFeatureError",
    "DuplicateSampleError",
    "Feature",
    "FeatureDefinitionError",
    "FeatureDep",
    "FeatureGraph",
    "FeatureKey",
    "FeatureSpec",
    "FieldDep",
    "FieldKey",
    "FieldSpec",
    "HashSettingsMismatchError",
    "Increment",
    "InvalidFrameError",
    "InvalidKeyError",
    "LakeStore",
    "MetaxyLakeError",
    "MissingColumnError",
    "MissingIdColumnError",
    "MissingProvenanceError",
    "MissingUpstreamValueError",
    "NullIdError",
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
    "WriteResult",
    "__version__",
]
