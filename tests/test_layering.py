"""The package's layers, read from the source and checked against docs/architecture.md.

The layering table of docs/architecture.md is the one source of the rules: each row is a
layer, the modules in it, the layers it may import and the libraries only it imports.
Every module of the package belongs to exactly one layer; every import (type-only and
function-local ones included) stays within what its layer may import; and no module
imports itself back through others.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "metaxy_lake"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
HEADER = "| layer | modules | may import | only these import |"


@dataclass(frozen=True)
class Layer:
    """One row of the layering table."""

    name: str
    modules: frozenset[str]
    may_import: frozenset[str]
    libraries: frozenset[str]


def _cells(text: str) -> frozenset[str]:
    return frozenset(c.strip(" `") for c in text.split(",") if c.strip(" `"))


def read_table(text: str) -> dict[str, Layer]:
    """The layers of a markdown table under ``HEADER``, by name."""
    lines = text.splitlines()
    start = lines.index(HEADER) + 2  # past the header and its |---| row
    layers: dict[str, Layer] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        name, modules, may_import, libraries = (c.strip() for c in line.strip("|").split("|"))
        layers[name] = Layer(name, _cells(modules), _cells(may_import), _cells(libraries))
    return layers


LAYERS = read_table(ARCHITECTURE.read_text())


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def find_modules(package: Path) -> dict[str, Path]:
    """Every module of a package, by dotted name."""
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def imports(path: Path, package_dir: Path = PACKAGE, modules: Iterable[str] = ()) -> set[str]:
    """What a file imports, wherever the import sits: modules by absolute dotted name.

    ``from package import name`` imports the submodule ``package.name`` when there is one
    (not the package's ``__init__``), else the package.
    """
    known = set(modules) or set(find_modules(package_dir))
    name = module_name(path, package_dir)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of a package → the package's modules it imports."""
    modules = find_modules(package)
    return {m: (imports(p, package, modules) & set(modules)) - {m} for m, p in modules.items()}


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle of the graph (its nodes, the first repeated at the end), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle is not None:
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle is not None:
            return cycle
    return None


MODULES = find_modules(PACKAGE)
GRAPH = import_graph(PACKAGE)


def layer_of(name: str) -> list[str]:
    """The layers whose modules column names a module (exactly one, if the table is right)."""
    parts = name.split(".")
    if len(parts) == 1:
        entry = "metaxy_lake"
    elif len(parts) == 2 and not (PACKAGE / parts[1]).is_dir():
        entry = parts[1]  # a top-level module
    else:
        entry = parts[1] + "/"  # a subpackage, its __init__ included
    return [layer.name for layer in LAYERS.values() if entry in layer.modules]


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_table_is_read() -> None:
    assert {"core", "graph", "config", "store", "ray", "cli"} <= set(LAYERS)
    assert "graph" in LAYERS["store"].may_import
    assert "deltalake" in LAYERS["formats"].libraries
    assert not LAYERS["core"].may_import


def test_the_scanner_sees_imports() -> None:
    assert "metaxy_lake.graph.keys" in GRAPH["metaxy_lake.graph.spec"]
    # a submodule named in ``from package import name`` is the submodule, not the package
    assert "metaxy_lake.graph.versioning" in GRAPH["metaxy_lake.graph.feature_graph"]
    assert "metaxy_lake.graph" not in GRAPH["metaxy_lake.graph.feature_graph"]
    assert "deltalake" in {top(m) for m in imports(MODULES["metaxy_lake.formats.delta"])}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_is_in_one_layer(name: str) -> None:
    assert len(layer_of(name)) == 1, f"{name} is in layers {layer_of(name)} of {ARCHITECTURE}"


def test_the_layers_import_each_other_without_a_cycle() -> None:
    unknown = {m for layer in LAYERS.values() for m in layer.may_import} - set(LAYERS)
    assert not unknown, f"{ARCHITECTURE} names no layer {sorted(unknown)}"
    assert find_cycle({n: layer.may_import for n, layer in LAYERS.items()}) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_module_imports_only_what_its_layer_may(name: str) -> None:
    (own,) = layer_of(name)
    allowed = {own, *LAYERS[own].may_import}
    broken = sorted(m for m in GRAPH[name] if layer_of(m)[0] not in allowed)
    assert not broken, f"{name} ({own}) imports {broken}; see the table of {ARCHITECTURE}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_each_library_is_imported_only_by_its_layers(name: str) -> None:
    (own,) = layer_of(name)
    owners: dict[str, set[str]] = {}
    for layer in LAYERS.values():
        for library in layer.libraries:
            owners.setdefault(library, set()).add(layer.name)
    used = {top(m) for m in imports(MODULES[name], PACKAGE, MODULES)}
    broken = sorted(lib for lib in used if lib in owners and own not in owners[lib])
    shown = {lib: sorted(owners[lib]) for lib in broken}
    assert not broken, f"{name} ({own}) imports {broken}; only these layers may: {shown}"


def test_no_module_imports_itself_back() -> None:
    assert find_cycle(GRAPH) is None, f"import cycle: {' -> '.join(find_cycle(GRAPH) or [])}"


def test_the_cycle_check_finds_a_cycle_of_any_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from pkg.sub import b\n")  # function-local
    (package / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n"
    )
    (package / "c.py").write_text("from . import a\n")  # relative
    graph = import_graph(package)
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]
    (package / "c.py").write_text("import pkg.sub\n")  # the cycle broken
    assert find_cycle(import_graph(package)) is None
    assert find_cycle({"x": {"y"}, "y": {"x"}}) == ["x", "y", "x"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None


def test_every_error_class_is_importable_from_the_package() -> None:
    import metaxy_lake
    from metaxy_lake import errors

    declared = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, errors.MetaxyLakeError)
    }
    missing = sorted(n for n in declared if getattr(metaxy_lake, n, None) is not vars(errors)[n])
    assert not missing, f"metaxy_lake does not export {missing}"
    assert declared <= set(metaxy_lake.__all__)


def test_the_table_rules_out_what_the_design_forbids() -> None:
    """The rows say what docs/architecture.md's prose promises (a row edited away fails)."""
    reach: dict[str, set[str]] = {}

    def below(name: str) -> set[str]:
        if name not in reach:
            reach[name] = set(LAYERS[name].may_import)
            for other in LAYERS[name].may_import:
                reach[name] |= below(other)
        return reach[name]

    assert below("graph") == {"core"}  # pure: no engine, format, store, catalog, config
    assert not {"store", "cli", "ray", "config"} & below("formats")
    assert not {"store", "catalog", "cli", "demo", "ray"} & below("engine")
    assert "store" not in below("config")
    assert not any("ray" in below(n) for n in LAYERS if n != "ray")
    io = {"duckdb", "s3fs", "tomllib", "deltalake", "pyiceberg", "lance", "ray"}
    assert not io & {lib for n in {"graph", *below("graph")} for lib in LAYERS[n].libraries}
    assert {n for n in LAYERS if "duckdb" in LAYERS[n].libraries} == {"engine", "store"}
