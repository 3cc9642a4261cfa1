"""How a feature's samples relate to one dependency's (docs/design.md, Dependency shapes).

A ``LineageRelationship`` sits on a ``FeatureDep`` (Metaxy's names):

- ``identity()`` (the default): one sample per upstream sample, joined on the id columns;
- ``expansion(on=[...])``: 1:N, each upstream sample (the parent, identified by ``on``,
  its id columns after ``rename``) expands into many samples of this feature, which store
  the ``on`` columns; provenance is computed per parent and copied onto each child;
- ``aggregation(on=[...])``: N:1, the upstream samples sharing the ``on`` values (this
  feature's id columns) form one group, whose data versions are joined and hashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from metaxy_lake.errors import LineageError

Kind = Literal["identity", "expansion", "aggregation"]


@dataclass(frozen=True)
class LineageRelationship:
    """The cardinality of a dependency.

    Build one with ``identity()``, ``expansion(on=[...])`` or ``aggregation(on=[...])``.

    Attributes:
        kind: ``identity``, ``expansion`` or ``aggregation``.
        on: The columns (after ``rename``) that identify a parent (expansion) or a group
            (aggregation); empty for identity.
    """

    kind: Kind = "identity"
    on: tuple[str, ...] = ()

    @classmethod
    def identity(cls) -> LineageRelationship:
        """One sample per upstream sample (1:1), joined on the id columns."""
        return cls()

    @classmethod
    def expansion(cls, on: Sequence[str] | None = None) -> LineageRelationship:
        """Each upstream sample expands into many samples of this feature (1:N).

        Args:
            on: The parent's id columns (after ``rename``); this feature stores them.

        Raises:
            LineageError: ``on`` is missing or empty.
        """
        return cls("expansion", _on("expansion", on))

    @classmethod
    def aggregation(cls, on: Sequence[str] | None = None) -> LineageRelationship:
        """Many upstream samples aggregate into one sample of this feature (N:1).

        Args:
            on: The upstream columns (after ``rename``) whose values form a group: this
                feature's id columns.

        Raises:
            LineageError: ``on`` is missing or empty.
        """
        return cls("aggregation", _on("aggregation", on))


def _on(kind: str, on: Sequence[str] | None) -> tuple[str, ...]:
    if on is None or isinstance(on, str) or len(on) == 0:
        raise LineageError(
            f"LineageRelationship.{kind}() needs on=[...]: the columns that identify "
            + ("the parent" if kind == "expansion" else "a group")
            + f", e.g. {kind}(on=['video_id'])"
        )
    if len(set(on)) != len(on):
        raise LineageError(f"LineageRelationship.{kind}(on={list(on)}) names a column twice")
    return tuple(on)
