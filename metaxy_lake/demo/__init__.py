"""The reference scenario of DESIGN section 0, run by ``mxl demo`` and the core tests."""

from metaxy_lake.demo.scenario import FeatureStatus, Phase, ScenarioFeatures, build_features, run

__all__ = ["FeatureStatus", "Phase", "ScenarioFeatures", "build_features", "run"]
