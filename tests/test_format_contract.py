"""Every format keeps the base contract: same public signatures, capabilities obeyed."""

from __future__ import annotations

import dataclasses
import inspect
import sys

import narwhals as nw
import pytest
from helpers import root_rows, table_state

import metaxy_lake as mxl
from metaxy_lake.formats import Capabilities, LakeTable, TableFormat, format_class


def shape(function: object) -> list[tuple[str, object, object]]:
    """A signature's parameters: names, kinds, defaults (types may be narrowed)."""
    params = inspect.signature(function).parameters.values()  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in params]


def public_methods(cls: type) -> dict[str, list[tuple[str, object, object]]]:
    return {
        name: shape(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def table_class(fmt: str) -> type[LakeTable]:
    module = sys.modules[format_class(fmt).__module__]
    (found,) = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, LakeTable) and c is not LakeTable
    ]
    return found


def test_every_format_keeps_the_base_signatures(fmt: str) -> None:
    for base, impl in ((TableFormat, format_class(fmt)), (LakeTable, table_class(fmt))):
        expected, found = public_methods(base), public_methods(impl)
        assert set(found) == set(expected), f"{impl.__name__} adds or lacks public methods"
        for name, params in expected.items():
            assert found[name] == params, f"{impl.__name__}.{name}: {found[name]} != {params}"
        # the hooks a format implements keep their parameters too
        hooks = [n for n, m in vars(base).items() if n.startswith("_") and inspect.isfunction(m)]
        for name in hooks:
            if not name.startswith("__"):
                assert shape(getattr(impl, name)) == shape(getattr(base, name)), name


def test_every_format_declares_every_capability(fmt: str) -> None:
    capabilities = format_class(fmt).capabilities
    assert isinstance(capabilities, Capabilities)


@pytest.fixture
def root_feature(graph: mxl.FeatureGraph) -> type[mxl.Feature]:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        pass

    return Root


@pytest.mark.locations("local")  # the store refuses before any request
@pytest.mark.parametrize(
    ("capability", "call"),
    [
        ("compaction", lambda s, f: s.compact(f)),
        ("expiry", lambda s, f: s.expire(f)),
        ("hard_delete", lambda s, f: s.delete(f, nw.col("sample_uid") == "s1", soft=False)),
        ("time_travel_by_version", lambda s, f: s.read(f, as_of=0)),
        ("time_travel_by_timestamp", lambda s, f: s.read(f, as_of="2026-01-01T00:00:00+00:00")),
    ],
)
def test_an_operation_a_format_cannot_do_is_refused_by_name(
    store, root_feature, monkeypatch, capability, call
) -> None:
    store.write(root_feature, root_rows({"s1": {"a": "1"}, "s2": {"a": "2"}}))
    before = table_state(store, root_feature)
    lacking = dataclasses.replace(store.format.capabilities, **{capability: False})
    monkeypatch.setattr(store.format, "capabilities", lacking)  # this store's format only
    with pytest.raises(mxl.UnsupportedOperationError, match=f"{store.format.name}.*{capability}"):
        call(store, root_feature)
    assert table_state(store, root_feature) == before
