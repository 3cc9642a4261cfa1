"""The package's layers, read from the source (type-only imports included).

- ``graph/`` is the pure model: it imports no engine, format, store, catalog or
  configuration module of the package, directly or through another module, and no I/O
  library.
- Only ``formats/`` imports the table-format libraries (deltalake, pyiceberg, lance).
- Only ``engine/`` and ``store/`` talk to DuckDB.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "metaxy_lake"
FORMAT_LIBRARIES = ("deltalake", "pyiceberg", "lance")
IO_LIBRARIES = ("duckdb", "fsspec", "s3fs", "boto3", "botocore", "tomllib", *FORMAT_LIBRARIES)
IMPURE = ("engine", "formats", "store", "catalog", "config", "storage", "cli", "demo", "ray")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, absolute, wherever the import statement sits."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def closure(start: str) -> set[str]:
    """The package's own modules reached from ``start`` through imports."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES:
            continue
        seen.add(name)
        todo += [m for m in imports(MODULES[name]) if m in MODULES]
    return seen


def top(name: str) -> str:
    return name.split(".")[0]


def layer(name: str) -> str:
    """``metaxy_lake.engine.sql`` -> ``engine``; the package itself -> ``""``."""
    return [*name.split("."), ""][1]


def test_the_scanner_sees_imports() -> None:
    assert "metaxy_lake.graph.keys" in closure("metaxy_lake.graph.spec")
    assert "deltalake" in {top(m) for m in imports(MODULES["metaxy_lake.formats.delta"])}


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("metaxy_lake.graph")))
def test_graph_is_pure(name: str) -> None:
    reached = closure(name)
    impure = sorted(m for m in reached if layer(m) in IMPURE)
    assert not impure, f"{name} reaches {impure}"
    libraries = sorted({top(m) for r in reached for m in imports(MODULES[r])} & set(IO_LIBRARIES))
    assert not libraries, f"{name} (through {sorted(reached)}) imports I/O libraries {libraries}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_formats_import_format_libraries(name: str) -> None:
    if name.startswith("metaxy_lake.formats."):
        return
    used = sorted({top(m) for m in imports(MODULES[name])} & set(FORMAT_LIBRARIES))
    assert not used, f"{name} imports {used}; only metaxy_lake.formats may"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_the_engine_and_the_stores_import_duckdb(name: str) -> None:
    if layer(name) in ("engine", "store", "increment"):
        return
    assert "duckdb" not in {top(m) for m in imports(MODULES[name])}, name


FORBIDDEN = {
    "formats": ("engine", "store", "graph", "catalog"),
    "engine": ("store", "catalog", "cli", "demo"),
    "catalog": ("engine", "store", "cli", "demo"),
    "store": ("cli", "demo"),
}


@pytest.mark.parametrize("name", sorted(m for m in MODULES if layer(m) in FORBIDDEN))
def test_lower_layers_do_not_import_higher_ones(name: str) -> None:
    reached = sorted(m for m in closure(name) if layer(m) in FORBIDDEN[layer(name)])
    assert not reached, f"{name} reaches {reached} (see docs/architecture.md)"


def test_every_error_class_is_importable_from_the_package() -> None:
    import inspect

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


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_metaxy_lake_ray_imports_ray(name: str) -> None:
    """Ray is an extra: nothing but ``metaxy_lake.ray`` imports it, nor ``metaxy_lake.ray``."""
    if name.startswith("metaxy_lake.ray"):
        return
    used = imports(MODULES[name])
    assert "ray" not in {top(m) for m in used}, name
    assert not any(m.startswith("metaxy_lake.ray") for m in used), name
