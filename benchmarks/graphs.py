"""The benchmark graphs (docs/design.md, Tests and benchmarks), and their root data.

- ``simple``: one root (``audio``, ``frames``) and one leaf with one field (``caption``,
  which depends on both root fields).
- ``wide``: two roots with ``audio``, ``frames``, ``optical_flow`` and ``embedding`` each,
  and one leaf joining both with two fields: ``audio`` (the two roots' ``audio``) and
  ``summary`` (all eight root fields).
- ``expansion``: a root of videos (``audio``, ``frames``) and a leaf of clips, ten per
  video (``expansion(on=["video_id"])``); N counts the videos.
- ``aggregation``: a root of clips (``audio``, ``frames``), ten per video, and a leaf of
  one summary per video (``aggregation(on=["video_id"])``); N counts the clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from metaxy_lake import (
    Feature,
    FeatureDep,
    FeatureGraph,
    FeatureSpec,
    LakeStore,
    LineageRelationship,
)

GRAPHS = ("simple", "wide")
SHAPES = ("expansion", "aggregation")
CLIPS = 10
"""Clips per video in the shape graphs."""
ID = "sample_uid"
COMMIT_ROWS = 1_000_000
"""Rows per seeding commit: bounds the seeding's memory."""


@dataclass(frozen=True)
class Root:
    """A root feature, its fields, its one user column, and its ids as SQL over ``i``."""

    feature: type[Feature]
    fields: tuple[str, ...]
    path_column: str
    ids: tuple[tuple[str, str], ...] = ((ID, "printf('s%010d', i)"),)


@dataclass(frozen=True)
class BenchGraph:
    """One benchmark graph.

    Attributes:
        key: The id column of the leaf's increment rows (an expansion's: the parent's).
        children: Leaf rows a writer makes of each increment row (an expansion's clips).
        spread: The root samples a stale phase skips between changes (one clip per
            video changes, not every clip of a tenth of the videos).
    """

    name: str
    roots: tuple[Root, ...]
    leaf: type[Feature]
    key: str = ID
    children: int = 0
    spread: int = 1


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
        if name in SHAPES:
            return _shape(name)
    raise ValueError(f"unknown graph {name!r} (known: {', '.join(GRAPHS + SHAPES)})")


def _shape(name: str) -> BenchGraph:
    """An expansion (videos → clips) or an aggregation (clips → video summaries)."""
    fields = ["audio", "frames"]
    video_id = ("video_id", "printf('s%010d', i)")
    if name == "expansion":

        class Video(
            Feature, spec=FeatureSpec(key="bench/video", id_columns=["video_id"], fields=fields)
        ):
            path: str

        expansion = LineageRelationship.expansion(on=["video_id"])

        class Clip(
            Feature,
            spec=FeatureSpec(
                key="bench/clip",
                id_columns=["clip_id"],
                deps=[FeatureDep(Video, lineage=expansion)],
                fields=fields,
            ),
        ):
            video_id: str
            dim: int

        root = Root(Video, tuple(fields), "path", (video_id,))
        return BenchGraph(name, (root,), Clip, key="video_id", children=CLIPS)

    class Clips(Feature, spec=FeatureSpec(key="bench/clip", id_columns=["clip_id"], fields=fields)):
        path: str
        video_id: str

    aggregation = LineageRelationship.aggregation(on=["video_id"])

    class Summary(
        Feature,
        spec=FeatureSpec(
            key="bench/summary",
            id_columns=["video_id"],
            deps=[FeatureDep(Clips, select=[], lineage=aggregation)],
            fields=fields,
        ),
    ):
        dim: int

    ids = (("clip_id", "printf('c%010d', i)"), ("video_id", f"printf('s%010d', i // {CLIPS})"))
    root = Root(Clips, tuple(fields), "path", ids)
    return BenchGraph(name, (root,), Summary, key="video_id", spread=CLIPS)


def root_rows(
    root: Root, start: int, stop: int, step: int = 1, salt: str = "", salted: int = 1
) -> pa.Table:
    """Every ``step``-th sample from ``start`` to ``stop`` of a root: ids, a path and
    per-field provenance.

    ``salt`` changes the ``audio`` provenance (a new upstream audio version) of every
    ``salted``-th sample.
    """
    audio = f"CASE WHEN i % {salted} = 0 THEN '{salt}' ELSE '' END"
    values = ", ".join(
        f"md5('{f}' || {audio if f == 'audio' else repr('')} || i::VARCHAR)" for f in root.fields
    )
    keys = ", ".join(f"'{f}'" for f in root.fields)
    ids = "".join(f"{sql} AS {name}, " for name, sql in root.ids)
    sql = (
        f"SELECT {ids}"
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
    new audio provenance, in one new root commit), ``stale1`` (the same with 1%) or
    ``rewrite`` (the whole first root appended again, 10% of it changed: every sample a
    candidate). After the leaf is written it is resolved once more, as a pipeline's
    previous run leaves it (its checkpoint), before the root changes. The stale commit
    goes to ``changes_to`` when given (a dev store falling back to ``store``).
    """
    for root in bench.roots:
        for start in range(0, n, COMMIT_ROWS):
            store.write(root.feature, root_rows(root, start, min(n, start + COMMIT_ROWS)))
    if phase == "new":
        return
    todo = store.resolve_update(bench.leaf).new.collect().to_arrow()
    if bench.children:  # an expansion: the writer makes the clips of each video
        todo = duckdb.sql(
            f"SELECT * EXCLUDE (c), video_id || '/' || c::VARCHAR AS clip_id "
            f"FROM todo, range({bench.children}) t(c)"
        ).to_arrow_table()
    for start in range(0, len(todo), COMMIT_ROWS):
        rows = todo.slice(start, COMMIT_ROWS)
        dim = pa.repeat(pa.scalar(512, pa.int64()), len(rows))
        store.write(bench.leaf, rows.append_column("dim", dim))
    store.resolve_update(bench.leaf)
    first = bench.roots[0]
    if phase == "rewrite":
        for start in range(0, n, COMMIT_ROWS):
            rows = root_rows(first, start, min(n, start + COMMIT_ROWS), salt="v2", salted=10)
            store.write(first.feature, rows)
        return
    every = {"stale": 10, "stale1": 100}[phase] * bench.spread
    (changes_to or store).write(first.feature, root_rows(first, 0, n, step=every, salt="v2"))
