"""A feature, as a task in another process finds it again.

A task gets the feature's key and the modules that define it, never the class itself:
``__init_subclass__`` registers a class in the graph of the process that defines it, so a
class rebuilt from a pickle would register twice or in the wrong graph. The task imports
the modules (a driver script run as ``__main__`` is loaded from its path, like
multiprocessing's spawn does) and looks the key up in its default graph.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from metaxy_lake.config import import_features, load_config
from metaxy_lake.errors import ConfigError, UnknownFeatureError
from metaxy_lake.graph import FeatureGraph, FeatureRef, feature_key_of, set_default_hash_length
from metaxy_lake.graph.versioning import DEFAULT_HASH_LENGTH

_MAIN_ALIAS = "__mxl_main__"


@dataclass(frozen=True)
class FeatureHandle:
    """What a task needs to find a feature: its key and where it is defined.

    Attributes:
        key: The feature key.
        modules: Modules to import so that the key is registered.
        main_path: The driver's script, when the feature is defined in ``__main__``.
        hash_length: The hash length of the driver's graph: a worker without the
            driver's ``metaxy_lake.toml`` builds its default graph with it.
    """

    key: str
    modules: tuple[str, ...] = ()
    main_path: str | None = None
    hash_length: int = DEFAULT_HASH_LENGTH

    @classmethod
    def of(cls, feature: FeatureRef) -> FeatureHandle:
        """The handle of a feature class, or of a key (known here, or by the configuration).

        Raises:
            UnknownFeatureError: A key that neither the current graph nor the modules of
                the configuration's ``features`` define.
        """
        graph = FeatureGraph.current()
        key = str(feature_key_of(feature))
        if isinstance(feature, type):
            return cls._of_class(key, feature)
        if key not in graph:
            config = load_config()
            if config is not None:
                import_features(config)
        if key not in graph:
            raise UnknownFeatureError(
                f"feature {key} is not defined here: import the module that declares it, or "
                "name it in metaxy_lake.toml's features"
            )
        return cls._of_class(key, graph.get(key).feature_class)

    @classmethod
    def _of_class(cls, key: str, feature_class: type) -> FeatureHandle:
        module = feature_class.__module__
        length = feature_class.graph().hash_length  # type: ignore[attr-defined]
        if module != "__main__":
            return cls(key, (module,), None, length)
        path = getattr(sys.modules["__main__"], "__file__", None)
        if path is None:
            raise UnknownFeatureError(
                f"feature {key} is defined in an interactive session; tasks cannot import "
                "it: define it in a module"
            )
        return cls(key, (), path, length)

    def resolve(self) -> str:
        """The key, after importing what defines it in this process.

        Raises:
            UnknownFeatureError: The modules imported do not define the key.
            ConfigError: This process's graph was made with another hash length.
        """
        # a fresh worker makes its default graph here: with the driver's hash length
        set_default_hash_length(lambda: self.hash_length)
        graph = FeatureGraph.current()
        if graph.hash_length != self.hash_length:
            raise ConfigError(
                f"this process's feature graph hashes to {graph.hash_length} digits and the "
                f"driver's to {self.hash_length}: give the workers the driver's "
                "metaxy_lake.toml (METAXY_LAKE_CONFIG)"
            )
        if self.key not in graph:
            for module in self.modules:
                importlib.import_module(module)
            if self.main_path is not None and _MAIN_ALIAS not in sys.modules:
                _load_main(self.main_path)
        if self.key not in graph:
            raise UnknownFeatureError(
                f"feature {self.key} is not defined after importing {list(self.modules)}"
                + (f" and {self.main_path}" if self.main_path else "")
            )
        return self.key


def _load_main(path: str) -> None:
    """Run the driver's script as a module of its own (its ``__main__`` block does not run)."""
    folder = str(Path(path).resolve().parent)
    if folder not in sys.path:  # as Python does for a script: its siblings import
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(_MAIN_ALIAS, path)
    if spec is None or spec.loader is None:
        raise UnknownFeatureError(f"cannot load {path} to find the features it defines")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MAIN_ALIAS] = module
    spec.loader.exec_module(module)
