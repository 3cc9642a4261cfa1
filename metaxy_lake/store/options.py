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
    format: str, catalog: Mapping[str, Any] | None, namespace: str | None
) -> dict[str, Any]:
    """The Iceberg options of a store (none for the other formats).

    Raises:
        StoreConfigError: ``catalog=`` or ``namespace=`` given to another format.
    """
    if catalog is None and namespace is None:
        return {}
    if format != "iceberg":
        raise StoreConfigError(f"catalog= and namespace= apply to format='iceberg', not {format!r}")
    options: dict[str, Any] = {"namespace": namespace or "metaxy"}
    if catalog is not None:
        options["catalog"] = catalog
    return options


def feature_name(feature: FeatureRef) -> str:
    """A feature reference as messages name it (its key, if it has one)."""
    key = getattr(feature, "__metaxy_key__", None)
    return str(key if key is not None else feature)
