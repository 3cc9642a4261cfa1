"""Shared fixtures and hypothesis profiles."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import metaxy_lake as mxl

settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "slow",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def graph() -> Iterator[mxl.FeatureGraph]:
    """A fresh feature graph, current for the test."""
    g = mxl.FeatureGraph()
    with g.use():
        yield g


@pytest.fixture
def store(tmp_path: Path) -> mxl.LakeStore:
    """An empty local Delta store."""
    return mxl.LakeStore(tmp_path / "store")
