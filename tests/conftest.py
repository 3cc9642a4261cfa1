"""Shared fixtures, the format parametrisation of the behaviour suite, hypothesis profiles.

Every test that takes ``fmt`` (directly or through ``store``/``make_store``) runs once per
format selected with ``pytest --formats=delta,iceberg,lance`` (default: all). A format's
known gap is declared next to the test with ``@pytest.mark.gap("lance", raises=Error,
reason=...)``: a strict expected failure that must name the exception it expects.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import metaxy_lake as mxl
from metaxy_lake.formats import known_formats

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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--formats",
        default=",".join(known_formats()),
        help="comma-separated table formats the behaviour suite runs on (default: all)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gap(format, raises, reason): a known gap of one format (strict xfail)"
    )


def selected_formats(config: pytest.Config) -> list[str]:
    names = [f.strip() for f in str(config.getoption("--formats")).split(",") if f.strip()]
    unknown = sorted(set(names) - set(known_formats()))
    if unknown:
        raise pytest.UsageError(f"unknown formats {unknown}; known: {known_formats()}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fmt" in metafunc.fixturenames:
        metafunc.parametrize("fmt", selected_formats(metafunc.config))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fmt = getattr(item, "callspec", None) and item.callspec.params.get("fmt")
        for mark in item.iter_markers("gap"):
            if mark.args and mark.args[0] == fmt:
                raises = mark.kwargs["raises"]  # a gap must name its exception
                item.add_marker(
                    pytest.mark.xfail(raises=raises, strict=True, reason=mark.kwargs["reason"])
                )


@pytest.fixture
def graph() -> Iterator[mxl.FeatureGraph]:
    """A fresh feature graph, current for the test."""
    g = mxl.FeatureGraph()
    with g.use():
        yield g


@pytest.fixture
def make_store(tmp_path: Path, fmt: str) -> Callable[..., mxl.LakeStore]:
    """Open stores of the test's format (under the test's directory by default)."""

    def make(root: str | Path | None = None, **kwargs: Any) -> mxl.LakeStore:
        return mxl.LakeStore(root if root is not None else tmp_path / "store", format=fmt, **kwargs)

    return make


@pytest.fixture
def store(make_store: Callable[..., mxl.LakeStore]) -> mxl.LakeStore:
    """An empty local store of the test's format."""
    return make_store()
