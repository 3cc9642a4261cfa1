"""Every format keeps the base contract: same public signatures, capabilities obeyed."""

from __future__ import annotations

import inspect
import sys
import typing
from typing import Any

import narwhals as nw
import pytest
from helpers import root_rows, table_state

import metaxy_lake as mxl
from metaxy_lake import formats
from metaxy_lake.formats import Capability, LakeTable, TableFormat, format_class


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
    assert isinstance(capabilities, frozenset)
    assert all(isinstance(c, Capability) for c in capabilities)


@pytest.fixture
def root_feature(graph: mxl.FeatureGraph) -> type[mxl.Feature]:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        pass

    return Root


@pytest.mark.locations("local")  # the store refuses before any request
@pytest.mark.parametrize(
    ("capability", "call"),
    [
        (Capability.COMPACTION, lambda s, f: s.compact(f)),
        (Capability.EXPIRY, lambda s, f: s.expire(f)),
        (
            Capability.HARD_DELETE,
            lambda s, f: s.delete(f, nw.col("sample_uid") == "s1", soft=False),
        ),
        (Capability.TIME_TRAVEL_BY_VERSION, lambda s, f: s.read(f, as_of=0)),
        (
            Capability.TIME_TRAVEL_BY_TIMESTAMP,
            lambda s, f: s.read(f, as_of="2026-01-01T00:00:00+00:00"),
        ),
    ],
)
def test_an_operation_a_format_cannot_do_is_refused_by_name(
    store, root_feature, monkeypatch, capability, call
) -> None:
    store.write(root_feature, root_rows({"s1": {"a": "1"}, "s2": {"a": "2"}}))
    before = table_state(store, root_feature)
    lacking = store.format.capabilities - {capability}
    monkeypatch.setattr(store.format, "capabilities", lacking)  # this store's format only
    with pytest.raises(mxl.UnsupportedOperationError, match=f"{store.format.name}.*{capability}"):
        call(store, root_feature)
    assert table_state(store, root_feature) == before


def mentions_any(hint: object) -> bool:
    return hint is Any or any(mentions_any(arg) for arg in typing.get_args(hint))


def test_the_contract_has_no_any() -> None:
    """The contract's public signatures say what a format takes and gives, never ``Any``."""
    functions = [formats.format_class, formats.known_formats, formats.load_format]
    for cls in (LakeTable, TableFormat):
        for name, member in vars(cls).items():
            function = member.fget if isinstance(member, property) else member
            if not name.startswith("_") and inspect.isfunction(function):
                functions.append(function)
    assert len(functions) > 20
    for function in functions:
        hints = typing.get_type_hints(function)
        assert not [n for n, h in hints.items() if mentions_any(h)], function.__qualname__
