"""Typed edges: no ``Any`` in a public signature of ``metaxy_lake``, its Ray extra, the formats.

For every name a public module exports (``__all__``): a function's annotations, a type
alias itself, and for a class of the package each public method, property and attribute
it declares (``__init__`` included; what it inherits from another library is not ours).
Annotations are resolved (``typing.get_type_hints``), so an alias that hides ``Any``
counts; names imported only for type checking resolve from the package's modules.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from functools import cache, cached_property
from typing import Any, ForwardRef, Literal, get_args, get_origin, get_type_hints

import pytest

import metaxy_lake

_ANY = re.compile(r"\bAny\b")


def has_any(annotation: object) -> bool:
    """Whether ``Any`` appears in a resolved annotation, in unions and generics too."""
    if annotation is Any:
        return True
    if isinstance(annotation, str | ForwardRef):  # left unresolved inside a library's alias
        text = annotation if isinstance(annotation, str) else annotation.__forward_arg__
        return bool(_ANY.search(text))
    if get_origin(annotation) is Literal:
        return False
    if isinstance(annotation, list | tuple):  # Callable's parameter list
        return any(has_any(a) for a in annotation)
    return any(has_any(a) for a in get_args(annotation))


@cache
def _package_names() -> Mapping[str, object]:
    """Every name a module of the package binds: where type-checking-only imports resolve."""
    names: dict[str, object] = {}
    for info in pkgutil.walk_packages(metaxy_lake.__path__, "metaxy_lake."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an extra that is not installed (ray)
            continue
        for name, value in vars(module).items():
            if not name.startswith("__"):
                names.setdefault(name, value)
            if isinstance(value, types.ModuleType):  # `import pyarrow` as well as `as pa`
                names.setdefault(value.__name__, value)
    return names


@cache
def _type_checking_names(module: str) -> Mapping[str, object]:
    """The names a module binds only under ``if TYPE_CHECKING:`` (its imports, run here)."""
    try:
        tree = ast.parse(inspect.getsource(importlib.import_module(module)))
    except (OSError, TypeError):  # a module without source (the probe below)
        return {}
    names: dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            imports = [s for s in node.body if isinstance(s, ast.Import | ast.ImportFrom)]
            exec(compile(ast.Module(body=imports, type_ignores=[]), module, "exec"), names)
    return names


def _resolved(annotations: Mapping[str, object], module: str) -> dict[str, object]:
    namespace = {
        **_package_names(),
        **_type_checking_names(module),
        **vars(importlib.import_module(module)),
    }
    out: dict[str, object] = {}
    for part, annotation in annotations.items():
        # a class holds it: class attributes may be ClassVar, which a function's may not
        holder = type("holder", (), {"__annotations__": {part: annotation}})
        for _ in range(5):  # a library's alias may name modules it imports lazily (pandas)
            try:
                out[part] = get_type_hints(holder, globalns=namespace)[part]
                break
            except NameError as exc:
                try:
                    namespace[str(exc.name)] = importlib.import_module(str(exc.name))
                except ImportError:  # a library's optional module (Ray's DataBatch: cudf)
                    out[part] = annotation  # checked as text
                    break
        else:
            raise AssertionError(f"{part}: {annotation!r} does not resolve")
    return out


def _callable_of(member: object) -> Callable[..., object] | None:
    if isinstance(member, property):
        return member.fget
    if isinstance(member, cached_property):
        return member.func
    if isinstance(member, classmethod | staticmethod):
        return member.__func__
    return member if inspect.isfunction(member) else None


def _class_members(cls: type) -> Iterator[tuple[str, Mapping[str, object], str]]:
    for klass in cls.__mro__:
        if not klass.__module__.startswith("metaxy_lake"):
            continue
        own = inspect.get_annotations(klass)
        public = {k: v for k, v in own.items() if not k.startswith("_")}
        yield "", public, klass.__module__
        for name, member in vars(klass).items():
            function = _callable_of(member)
            if function is not None and (name == "__init__" or not name.startswith("_")):
                yield f".{name}", function.__annotations__, function.__module__


def violations(module_name: str) -> set[str]:
    """Each ``name[.member]: parameter`` of the module's public names annotated with Any."""
    module = importlib.import_module(module_name)
    found: set[str] = set()
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) and value.__module__.startswith("metaxy_lake"):
            members = list(_class_members(value))
        elif inspect.isfunction(value):
            members = [("", value.__annotations__, value.__module__)]
        else:  # a type alias (a library's class re-exported is the library's), or a constant
            is_alias = isinstance(value, types.UnionType) or get_origin(value) is not None
            if is_alias and has_any(value):
                found.add(f"{name}: alias")
            continue
        for member, declared, where in members:
            for part, annotation in _resolved(declared, where).items():
                if has_any(annotation):
                    found.add(f"{name}{member}: {part}")
    return found


def test_has_any_sees_any_in_unions_generics_and_callables() -> None:
    assert has_any(dict[str, Any] | None)
    assert has_any(Callable[[int], Any])
    assert has_any(list[tuple[int, Mapping[str, Any]]])
    assert not has_any(dict[str, int] | Literal["Any"] | None)


def test_violations_are_found_in_a_module_of_the_package() -> None:
    # a module of the package made for the check, whose public names hold Any
    module = types.ModuleType("metaxy_lake._probe")
    exec(
        "from typing import Any\n"
        "def f(x: int, y: 'Any') -> None: ...\n"
        "class C:\n"
        "    a: dict[str, Any]\n"
        "    def m(self) -> list[Any]: ...\n"
        "    @property\n"
        "    def p(self) -> int: ...\n"
        "__all__ = ['f', 'C']\n",
        module.__dict__,
    )
    module.C.__module__ = module.f.__module__ = "metaxy_lake._probe"
    sys.modules["metaxy_lake._probe"] = module
    try:
        assert violations("metaxy_lake._probe") == {"f: y", "C: a", "C.m: return"}
    finally:
        del sys.modules["metaxy_lake._probe"]


@pytest.mark.parametrize("module", ["metaxy_lake", "metaxy_lake.formats"])
def test_public_signatures_have_no_any(module: str) -> None:
    assert violations(module) == set()


def test_ray_signatures_have_no_any() -> None:
    pytest.importorskip("ray")
    assert violations("metaxy_lake.ray") == set()
