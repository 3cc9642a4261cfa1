"""Project configuration: ``metaxy_lake.toml`` or ``[tool.metaxy_lake]`` in pyproject.toml.

Found from the working directory upwards (or at ``METAXY_LAKE_CONFIG``, or an explicit
path), validated by a pydantic schema, with ``${VAR}`` and ``${VAR:-default}`` expanded
from the environment. Credentials never come from the file (``metaxy_lake.credentials``
says what one is): a credential key, and the user info or password parameter of a URI,
must be ``${VAR}`` references without a default. They stay references in the
configuration and the store's spec; the process that opens the store expands them.

The configuration imports no store: ``ProjectConfig.spec(name)`` is a ``StoreSpec``, plain
data, which ``metaxy_lake.open_store`` (the store layer) opens.
"""

from metaxy_lake.config.files import CONFIG_FILE, ENV_CONFIG, PYPROJECT_FILE, parse_duration
from metaxy_lake.config.project import (
    config_json,
    default_hash_length,
    import_features,
    required_config,
)
from metaxy_lake.config.spec import (
    DEFAULT_FORMAT,
    DEFAULT_HASH_ALGORITHM,
    DEFAULT_RETENTION,
    PinnedFallback,
    ProjectConfig,
    StoreSettings,
    StoreSpec,
    load_config,
    normalize_root,
    parse_config,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_FORMAT",
    "DEFAULT_HASH_ALGORITHM",
    "DEFAULT_RETENTION",
    "ENV_CONFIG",
    "PYPROJECT_FILE",
    "PinnedFallback",
    "ProjectConfig",
    "StoreSettings",
    "StoreSpec",
    "config_json",
    "default_hash_length",
    "import_features",
    "load_config",
    "normalize_root",
    "parse_config",
    "parse_duration",
    "required_config",
]
