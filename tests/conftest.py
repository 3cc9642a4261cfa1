"""Shared fixtures, the parametrisation of the behaviour suite, hypothesis profiles.

Every test that takes ``fmt`` (directly or through ``store``/``make_store``) runs once per
format selected with ``pytest --formats=delta,iceberg,lance`` (default: all), and the store
tests once per location selected with ``--locations=local,s3`` (default: both; S3 is a real
SeaweedFS server the session starts on 127.0.0.1). A test that needs a capability some
format lacks says so with ``@pytest.mark.requires(Capability.COMPACTION_METADATA, raises=Error)``:
on every format whose capability flags lack it, the test is a strict expected failure that
must name the exception it expects (the gaps come from the flags, not from a list here).

Property tests run a share of their examples on all formats but one (tests/helpers.py,
``examples``); the header names the format that runs them in full (docs/testing.md).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import s3server
from helpers import (
    FULL_FORMAT_VAR,
    OTHER_FORMATS_DIVISOR,
    examples,
    hypothesis_profile,
    rotating_format,
)
from hypothesis import HealthCheck, settings
from s3server import S3Server

import metaxy_lake as mxl
from metaxy_lake.formats import Capability, format_class, known_formats

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
settings.load_profile(hypothesis_profile())

# Ray clusters the tests start (and the examples they run) send no usage report out
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

LOCATIONS = ("local", "s3")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--formats",
        default=",".join(known_formats()),
        help="comma-separated table formats the behaviour suite runs on (default: all)",
    )
    parser.addoption(
        "--locations",
        default=",".join(LOCATIONS),
        help="comma-separated store locations for the behaviour suite (default: local,s3)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(capability, raises): strict xfail on formats whose flags lack the capability",
    )
    config.addinivalue_line(
        "markers", "locations(*names): run a store test only at these locations"
    )
    # chosen once, before xdist starts its workers (they inherit the environment)
    full = os.environ.get(FULL_FORMAT_VAR) or rotating_format(
        selected_formats(config), dt.datetime.now(dt.UTC).date()
    )
    if full not in known_formats():
        raise pytest.UsageError(f"{FULL_FORMAT_VAR}={full}: known formats {known_formats()}")
    os.environ[FULL_FORMAT_VAR] = full


def pytest_report_header(config: pytest.Config) -> str:
    profile = hypothesis_profile()
    if profile not in OTHER_FORMATS_DIVISOR:
        return f"hypothesis profile {profile}: full example counts on every format"
    full = os.environ[FULL_FORMAT_VAR]
    return (
        f"hypothesis profile {profile}: full example counts on {full}, "
        f"1/{OTHER_FORMATS_DIVISOR[profile]} on the other formats "
        f"(to rerun with the same counts: {FULL_FORMAT_VAR}={full})"
    )


def _selected(config: pytest.Config, option: str, known: list[str]) -> list[str]:
    names = [n.strip() for n in str(config.getoption(option)).split(",") if n.strip()]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise pytest.UsageError(f"{option}: unknown {unknown}; known: {known}")
    return names


def selected_formats(config: pytest.Config) -> list[str]:
    return _selected(config, "--formats", known_formats())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fmt" in metafunc.fixturenames:
        metafunc.parametrize("fmt", selected_formats(metafunc.config))
    if "location" in metafunc.fixturenames:
        chosen = _selected(metafunc.config, "--locations", list(LOCATIONS))
        marker = metafunc.definition.get_closest_marker("locations")
        only = marker.args if marker else None  # e.g. S3-only, or validation before any I/O
        metafunc.parametrize("location", [n for n in chosen if only is None or n in only])


# Modules whose tests take the longest (property tests, racing processes, examples): run
# first, so that two xdist workers do not end with one of them idle on the last long test.
HEAVY_FIRST = ("test_property_", "test_first_write_race", "test_examples", "test_cli.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.path.name.startswith(HEAVY_FIRST))  # stable
    for item in items:
        fmt = getattr(item, "callspec", None) and item.callspec.params.get("fmt")
        if not fmt:
            continue
        capabilities = format_class(fmt).capabilities
        for mark in item.iter_markers("requires"):
            (capability,) = mark.args
            assert isinstance(capability, Capability), f"not a Capability: {capability!r}"
            if capability not in capabilities:
                raises = mark.kwargs["raises"]  # a gap must name its exception
                reason = f"the {fmt} format lacks {capability}"
                item.add_marker(pytest.mark.xfail(raises=raises, strict=True, reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A property test on a format runs that format's share of its examples.

    Tests marked slow keep their full count on every format (the slow stage has the time).
    """
    fmt = getattr(item, "callspec", None) and item.callspec.params.get("fmt")
    test = getattr(item, "obj", None)
    if not fmt or not getattr(test, "is_hypothesis_test", False) or item.get_closest_marker("slow"):
        return (yield)
    # The formats' items share one function, and hypothesis reads its settings from this
    # attribute at each call (hypothesis's pytest plugin sets it per item the same way).
    function = getattr(test, "__func__", test)
    declared = function._hypothesis_internal_use_settings
    count = examples(declared.max_examples, fmt)
    function._hypothesis_internal_use_settings = settings(declared, max_examples=count)
    try:
        return (yield)
    finally:
        function._hypothesis_internal_use_settings = declared


@pytest.fixture
def graph() -> Iterator[mxl.FeatureGraph]:
    """A fresh feature graph, current for the test."""
    g = mxl.FeatureGraph()
    with g.use():
        yield g


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS server for the whole session."""
    server = s3server.start(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        s3server.stop(server.process)


@pytest.fixture
def store_kwargs(
    request: pytest.FixtureRequest, tmp_path: Path, fmt: str, location: str
) -> dict[str, Any]:
    """How the test's stores are opened: root, format, storage options, Iceberg catalog."""
    if location == "local":
        return {"root": str(tmp_path / "store"), "format": fmt}
    server: S3Server = request.getfixturevalue("s3_server")
    kwargs: dict[str, Any] = {
        "root": f"s3://{server.bucket}/{uuid.uuid4().hex}",
        "format": fmt,
        "storage_options": server.options(),
    }
    if fmt == "iceberg":  # one SQLite catalog file, shared by the test's processes
        kwargs["catalog"] = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}"}
    return kwargs


@pytest.fixture
def make_store(store_kwargs: dict[str, Any]) -> Callable[..., mxl.LakeStore]:
    """Open stores like the test's (same root, format and options unless overridden)."""

    def make(root: str | Path | None = None, **overrides: Any) -> mxl.LakeStore:
        kwargs = {**store_kwargs, **overrides}
        kwargs["root"] = str(root) if root is not None else kwargs["root"]
        return mxl.LakeStore(kwargs.pop("root"), **kwargs)

    return make


@pytest.fixture
def store(make_store: Callable[..., mxl.LakeStore]) -> mxl.LakeStore:
    """An empty store of the test's format and location."""
    return make_store()
