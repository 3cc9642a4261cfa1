"""The pure model: keys, specs, resolved definitions, the feature graph and its versions.

Nothing here does I/O or imports the engine, the formats, the stores or the catalog; the
layering test (tests/test_layering.py) keeps it so.
"""

from metaxy_lake.graph.definition import FeatureDefinition, ResolvedDep, ResolvedField
from metaxy_lake.graph.feature import Feature
from metaxy_lake.graph.feature_graph import FeatureGraph, set_default_hash_length
from metaxy_lake.graph.fields_mapping import FieldsMapping
from metaxy_lake.graph.keys import (
    FeatureKey,
    FeatureRef,
    FieldKey,
    feature_key_of,
    feature_name,
    fq_field_key,
)
from metaxy_lake.graph.relationship import LineageRelationship
from metaxy_lake.graph.spec import (
    DEFAULT_CODE_VERSION,
    FeatureDep,
    FeatureSpec,
    FieldDep,
    FieldSpec,
)

__all__ = [
    "DEFAULT_CODE_VERSION",
    "Feature",
    "FeatureDefinition",
    "FeatureDep",
    "FeatureGraph",
    "FeatureKey",
    "FeatureRef",
    "FeatureSpec",
    "FieldDep",
    "FieldKey",
    "FieldSpec",
    "FieldsMapping",
    "LineageRelationship",
    "ResolvedDep",
    "ResolvedField",
    "feature_key_of",
    "feature_name",
    "fq_field_key",
    "set_default_hash_length",
]
