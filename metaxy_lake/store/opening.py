"""Open a store named in the project configuration."""

from __future__ import annotations

from metaxy_lake.config import ProjectConfig, required_config
from metaxy_lake.store.lake_store import LakeStore


def open_store(name: str | None = None, *, config: ProjectConfig | None = None) -> LakeStore:
    """Open a store named in the configuration (the ``default_store`` without a name).

    Args:
        name: A ``[stores.NAME]`` of the configuration.
        config: The configuration (found from the working directory by default).

    Returns:
        The ``LakeStore``, opened from ``config.spec(name)``.

    Raises:
        ConfigError: No configuration, or no such store.
    """
    return LakeStore.from_spec(required_config(config).spec(name))
