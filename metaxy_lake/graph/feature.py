"""The ``Feature`` base class: a pydantic model for the user columns plus a spec."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from metaxy_lake.errors import FeatureDefinitionError
from metaxy_lake.graph.feature_graph import FeatureGraph
from metaxy_lake.graph.keys import FeatureKey
from metaxy_lake.graph.spec import FeatureSpec


class Feature(BaseModel):
    """Base class of every feature: subclass it with ``spec=FeatureSpec(...)``.

    The class body declares the feature's user columns as pydantic fields. Defining the
    class registers it in the current :class:`FeatureGraph`; an invalid definition raises
    a ``FeatureDefinitionError`` naming the offending keys.

    Example:
        >>> class Video(Feature, spec=FeatureSpec(key="example/video")):  # doctest: +SKIP
        ...     path: str
    """

    __metaxy_key__: ClassVar[FeatureKey]
    __metaxy_graph__: ClassVar[FeatureGraph]

    def __init_subclass__(cls, spec: FeatureSpec | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, spec: FeatureSpec | None = None, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if spec is None:
            raise FeatureDefinitionError(
                f"{cls.__qualname__}: a Feature subclass needs spec=FeatureSpec(...)"
            )
        graph = FeatureGraph.current()
        definition = graph.add(cls, spec)
        cls.__metaxy_key__ = definition.key
        cls.__metaxy_graph__ = graph

    @classmethod
    def spec(cls) -> FeatureSpec:
        """The feature's spec."""
        return cls.__metaxy_graph__.get(cls).spec

    @classmethod
    def key(cls) -> FeatureKey:
        """The feature's key."""
        return cls.__metaxy_key__

    @classmethod
    def graph(cls) -> FeatureGraph:
        """The graph the feature is registered in."""
        return cls.__metaxy_graph__

    @classmethod
    def feature_version(cls) -> str:
        """The feature version (docs/design.md, Versions): changes with any field version."""
        return cls.__metaxy_graph__.feature_version(cls)

    @classmethod
    def field_versions(cls) -> dict[str, str]:
        """Field key → field version."""
        return cls.__metaxy_graph__.field_versions(cls)
