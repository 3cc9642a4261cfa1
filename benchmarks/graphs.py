"""The benchmark graphs of DESIGN section 13, and their root data.

- ``simple``: one root (``audio``, ``frames``) and one leaf with one field (``caption``,
  which depends on both root fields).
- ``wide``: two roots with ``audio``, ``frames``, ``optical_flow`` and ``embedding`` each,
  and one leaf joining both with two fields: ``audio`` (the two roots' ``audio``) and
  ``summary`` (all eight root fields).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from metaxy_lake import Feature, FeatureDep, FeatureGraph, FeatureSpec, LakeStore

GRAPHS = ("simple", "wide")
ID = "sample_uid"
COMMIT_ROWS = 1_000_000
"""Rows per seeding commit: bounds the seeding's memory."""


@dataclass(frozen=True)
class Root:
    """A root feature, its fields and its one user column."""

    feature: type[Feature]
    fields: tuple[str, ...]
    path_column: str


@dataclass(frozen=True)
class BenchGraph:
    """One benchmark graph."""

    name: str
    roots: tuple[Root, ...]
    leaf: type[Feature]


def build(name: str) -> BenchGraph:
    """Define graph ``name`` (``simple`` or ``wide``) in a fresh feature graph."""
    graph = FeatureGraph()
    with graph.use():
        if name == "simple":

            class Video(
                Feature,
                spec=FeatureSpec(key="bench/video", id_columns=[ID], fields=["audio", "frames"]),
            ):
                path: str

            class Caption(
                Feature, spec=FeatureSpec(key="bench/caption", deps=[Video], fields=["caption"])
            ):
                dim: int

            return BenchGraph(name, (Root(Video, ("audio", "frames"), "path"),), Caption)
        if name == "wide":
            fields = ("audio", "frames", "optical_flow", "embedding")

            class Left(
                Feature,
                spec=FeatureSpec(key="bench/left", id_columns=[ID], fields=list(fields)),
            ):
                left_path: str

            class Right(
                Feature,
                spec=FeatureSpec(key="bench/right", id_columns=[ID], fields=list(fields)),
            ):
                right_path: str

            class Fused(
                Feature,
                spec=FeatureSpec(
                    key="bench/fused",
                    deps=[FeatureDep(Left), FeatureDep(Right)],
                    fields=["audio", "summary"],
                ),
            ):
                dim: int

            roots = (Root(Left, fields, "left_path"), Root(Right, fields, "right_path"))
            return BenchGraph(name, roots, Fused)
    raise ValueError(f"unknown graph {name!r} (known: {', '.join(GRAPHS)})")


def root_rows(root: Root, start: int, stop: int, step: int = 1, salt: str = "") -> pa.Table:
    """Every ``step``-th sample from ``start`` to ``stop`` of a root: ids, a path and
    per-field provenance.

    ``salt`` changes the ``audio`` provenance (a new upstream audio version).
    """
    values = ", ".join(
        f"md5('{f}{salt if f == 'audio' else ''}' || i::VARCHAR)" for f in root.fields
    )
    keys = ", ".join(f"'{f}'" for f in root.fields)
    sql = (
        f"SELECT printf('s%010d', i) AS {ID}, "
        f"'s3://media/' || i::VARCHAR || '.mp4' AS {root.path_column}, "
        f"MAP([{keys}], [{values}]) AS metaxy_provenance_by_field "
        f"FROM range({start}, {stop}, {step}) t(i)"
    )
    return duckdb.sql(sql).to_arrow_table()


def seed(
    store: LakeStore, bench: BenchGraph, n: int, phase: str, changes_to: LakeStore | None = None
) -> None:
    """Write the roots; for the stale phases also the whole leaf, then the stale commit.

    ``phase`` is ``new`` (leaf empty), ``stale`` (10% of the first root's samples get
    new audio provenance, in one new root commit) or ``stale1`` (the same with 1%). The
    stale commit goes to ``changes_to`` when given (a dev store falling back to ``store``).
    """
    for root in bench.roots:
        for start in range(0, n, COMMIT_ROWS):
            store.write(root.feature, root_rows(root, start, min(n, start + COMMIT_ROWS)))
    if phase == "new":
        return
    todo = store.resolve_update(bench.leaf).new.collect().to_arrow()
    for start in range(0, n, COMMIT_ROWS):
        rows = todo.slice(start, COMMIT_ROWS)
        dim = pa.repeat(pa.scalar(512, pa.int64()), len(rows))
        store.write(bench.leaf, rows.append_column("dim", dim))
    every = {"stale": 10, "stale1": 100}[phase]
    first = bench.roots[0]
    (changes_to or store).write(first.feature, root_rows(first, 0, n, step=every, salt="v2"))
