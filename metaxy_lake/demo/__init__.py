"""The reference scenario (docs/design.md, Reference scenario) of ``mxl demo`` and the tests."""

from metaxy_lake.demo.scenario import FeatureStatus, Phase, ScenarioFeatures, build_features, run

__all__ = ["FeatureStatus", "Phase", "ScenarioFeatures", "build_features", "run"]
