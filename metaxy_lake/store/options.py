"""A store's constructor arguments, normalised: its root, its format options, feature names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metaxy_lake.errors import StoreConfigError
from metaxy_lake.graph import FeatureRef


def normalize_root(root: str | Path) -> str:
    """A URI without its trailing slash, or an absolute local path."""
    text = str(root)
    return text.rstrip("/") if "://" in text else str(Path(text).resolve())


def format_options(
    format: str, catalog: Mapping[str, Any] | None, namespace: str | None, read_only: bool
) -> dict[str, Any]:
    """A store's format options: whether it is read-only, and Iceberg's catalog and namespace.

    Raises:
        StoreConfigError: ``catalog=`` or ``namespace=`` given to another format.
    """
    options: dict[str, Any] = {"read_only": read_only}
    if catalog is None and namespace is None:
        return options
    if format != "iceberg":
        raise StoreConfigError(f"catalog= and namespace= apply to format='iceberg', not {format!r}")
    options["namespace"] = namespace or "metaxy"
    if catalog is not None:
        options["catalog"] = catalog
    return options


def feature_name(feature: FeatureRef) -> str:
    """A feature reference as messages name it (its key, if it has one)."""
    key = getattr(feature, "__metaxy_key__", None)
    return str(key if key is not None else feature)
