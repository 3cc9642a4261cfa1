"""Expansion (1:N) and aggregation (N:1) lineage (docs/design.md, Dependency shapes), every format.

Golden values are computed here with ``hashlib`` from the recipe (docs/design.md, Hash recipe): an
expansion hashes per parent exactly as a 1:1 dep; an aggregation stands for each upstream
field with the hash of the group's data versions joined by ``|`` in upstream id order
(integers numerically, strings bytewise).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from helpers import as_dict

import metaxy_lake as mxl

INITIAL = "__metaxy_initial__"
LR = mxl.LineageRelationship
UNKNOWN, LINEAGE = mxl.UnknownDependencyError, mxl.LineageError
DVBF, PBF = "metaxy_data_version_by_field", "metaxy_provenance_by_field"


def _md5(*parts: str) -> str:
    return hashlib.md5("|".join(parts).encode()).hexdigest()[:16]


def _videos(values: dict[str, tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "video_id": list(values),
            "path": [f"{v}.mp4" for v in values],
            "metaxy_provenance_by_field": [{"audio": a, "frames": f} for a, f in values.values()],
        }
    )


def _graph() -> tuple[Any, Any, Any]:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Video(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="v/video", id_columns=["video_id"], fields=["audio", "frames"]
            ),
        ):
            path: str

        class Clip(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="v/clip",
                id_columns=["clip_id"],
                deps=[mxl.FeatureDep(Video, lineage=LR.expansion(on=["video_id"]))],
                fields=["audio", "frames"],
            ),
        ):
            video_id: str
            start: float

        class Summary(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="v/summary",
                id_columns=["video_id"],
                deps=[
                    mxl.FeatureDep(Clip, select=["start"], lineage=LR.aggregation(on=["video_id"])),
                    mxl.FeatureDep(Video, select=[]),
                ],
                fields=[
                    mxl.FieldSpec("speech", deps=[mxl.FieldDep(Clip, ["audio"])]),
                    mxl.FieldSpec("cover", deps=[mxl.FieldDep(Video, ["frames"])]),
                ],
            ),
        ):
            clips: int

    return Video, Clip, Summary


def _clip_fields(audio: str, frames: str) -> tuple[dict[str, str], str]:
    by_field = {
        "audio": _md5("audio", INITIAL, "v/video.audio", audio),
        "frames": _md5("frames", INITIAL, "v/video.frames", frames),
    }
    return by_field, _md5(by_field["audio"], by_field["frames"])


def _children(parents: pl.DataFrame, count: int) -> pl.DataFrame:
    """The clips a writer makes of each parent row: the parent's provenance on each."""
    system = ["metaxy_provenance_by_field", "metaxy_provenance", "metaxy_upstream"]
    rows = [
        {**{c: p[c] for c in ["video_id", *system]}, "clip_id": f"{p['video_id']}-{i}"}
        | {"start": float(i)}
        for p in parents.iter_rows(named=True)
        for i in range(count)
    ]
    return pl.DataFrame(rows)


def _by_id(frame: Any, key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in frame.collect().to_polars().to_dicts()}


def test_expansion_hashes_per_parent_and_compares_the_children(tmp_path: Path, fmt: str) -> None:
    video, clip, _ = _graph()
    store = mxl.LakeStore(tmp_path / "store", format=fmt)
    store.write(video, _videos({"a": ("a1", "f1"), "b": ("a2", "f2")}))

    new = _by_id(store.resolve_update(clip).new, "video_id")  # one row per parent
    assert set(new) == {"a", "b"}
    by_field, provenance = _clip_fields("a1", "f1")
    assert as_dict(new["a"]["metaxy_provenance_by_field"]) == by_field
    assert new["a"]["metaxy_provenance"] == provenance
    video_a = _md5("a1", "f1")  # a root's data version: its field provenances, joined
    assert as_dict(new["a"]["metaxy_upstream"]) == {"v/video": video_a}
    assert new["a"]["path"] == "a.mp4"  # the parent's user columns are carried

    store.write(clip, _children(store.resolve_update(clip).new.collect().to_polars(), 3))
    assert store.resolve_update(clip).counts() == {"new": 0, "stale": 0, "orphaned": 0}

    store.write(video, _videos({"a": ("a1-new", "f1")}))  # a's audio changes
    store.write(video, _videos({"c": ("a3", "f3")}))  # and a video arrives
    inc = store.resolve_update(clip)
    (stale,) = inc.stale.collect().to_polars().to_dicts()
    assert (stale["video_id"], stale["metaxy_changed_fields"]) == ("a", ["audio"])
    assert stale["metaxy_provenance"] == _clip_fields("a1-new", "f1")[1]
    assert set(_by_id(inc.new, "video_id")) == {"c"}

    # one child of a rewritten: a is still stale until all its children carry the new value
    partial = _children(inc.stale.collect().to_polars(), 1)
    store.write(clip, partial)
    inc = store.resolve_update(clip)
    (again,) = inc.stale.collect().to_polars().to_dicts()
    assert (again["video_id"], again["metaxy_changed_fields"]) == ("a", ["audio"])
    store.write(clip, _children(inc.stale.collect().to_polars(), 3))
    assert store.resolve_update(clip).counts()["stale"] == 0

    store.delete(video, nw.col("video_id") == "b")  # a deleted parent orphans its children
    inc = store.resolve_update(clip)
    orphans = inc.orphaned.collect().to_polars()
    assert sorted(orphans["clip_id"]) == ["b-0", "b-1", "b-2"]
    assert inc.counts()["orphaned"] == 3
    store.delete(clip, nw.col("video_id") == "b")
    store.delete(clip, nw.col("clip_id") == "a-0")  # a child gone is not a change
    assert store.resolve_update(clip).counts() == {"new": 1, "stale": 0, "orphaned": 0}


def test_expansion_shards_by_parent(tmp_path: Path, fmt: str) -> None:
    video, clip, _ = _graph()
    store = mxl.LakeStore(tmp_path / "store", format=fmt)
    store.write(video, _videos({f"v{i}": (f"a{i}", "f") for i in range(12)}))
    store.write(clip, _children(store.resolve_update(clip).new.collect().to_polars(), 2))
    store.write(video, _videos({f"v{i}": (f"b{i}", "f") for i in range(0, 12, 2)}))
    store.delete(video, nw.col("video_id").is_in(["v1", "v3"]))
    parts = [store.resolve_update(clip, shard=(i, 3)) for i in range(3)]
    stale = [set(_by_id(p.stale, "video_id")) for p in parts]
    orphans = [set(p.orphaned.collect().to_polars()["video_id"]) for p in parts]
    assert sum(map(len, stale)) == 6 and set().union(*stale) == {f"v{i}" for i in range(0, 12, 2)}
    assert set().union(*orphans) == {"v1", "v3"}
    assert all(not (s & o) for s in stale for o in orphans if s is not o)
    assert sum(p.counts()["orphaned"] for p in parts) == 4  # both children of each


def _summary_provenance(clip_audio: list[str], frames: str) -> tuple[dict[str, str], str]:
    group = _md5(*clip_audio)
    by_field = {
        "cover": _md5("cover", INITIAL, "v/video.frames", frames),
        "speech": _md5("speech", INITIAL, "v/clip.audio", group),
    }
    return by_field, _md5(by_field["cover"], by_field["speech"])


def test_aggregation_hashes_the_group_in_id_order(tmp_path: Path, fmt: str) -> None:
    video, clip, summary = _graph()
    store = mxl.LakeStore(tmp_path / "store", format=fmt)
    store.write(video, _videos({"a": ("a1", "f1"), "b": ("a2", "f2")}))
    store.write(clip, _children(store.resolve_update(clip).new.collect().to_polars(), 3))

    new = _by_id(store.resolve_update(summary).new, "video_id")  # one row per group
    assert set(new) == {"a", "b"}
    clip_audio = _clip_fields("a1", "f1")[0]["audio"]  # a clip's data version of audio
    by_field, provenance = _summary_provenance([clip_audio] * 3, "f1")
    assert as_dict(new["a"]["metaxy_provenance_by_field"]) == by_field
    assert new["a"]["metaxy_provenance"] == provenance
    clips = store.read(clip).collect().to_polars().filter(pl.col("video_id") == "a")
    versions = clips.sort("clip_id")["metaxy_data_version"].to_list()
    assert as_dict(new["a"]["metaxy_upstream"]) == {
        "v/clip": _md5(*versions),
        "v/video": _md5("a1", "f1"),
    }
    assert new["a"]["start"] == [0.0, 1.0, 2.0]  # carried columns: lists in id order

    rows = store.resolve_update(summary).new.collect().to_polars()
    store.write(summary, rows.with_columns(clips=pl.col("start").list.len()).drop("start"))
    assert store.resolve_update(summary).counts() == {"new": 0, "stale": 0, "orphaned": 0}

    store.delete(clip, nw.col("clip_id") == "a-1")  # a member leaves the group: stale
    inc = store.resolve_update(summary)
    (stale,) = inc.stale.collect().to_polars().to_dicts()
    assert (stale["video_id"], stale["metaxy_changed_fields"]) == ("a", ["speech"])
    assert stale["metaxy_provenance"] == _summary_provenance([clip_audio] * 2, "f1")[1]
    assert stale["start"] == [0.0, 2.0]

    store.delete(clip, nw.col("video_id") == "b")  # the whole group leaves: orphaned
    assert set(store.resolve_update(summary).orphaned.collect().to_polars()["video_id"]) == {"b"}


def _stats(tmp_path: Path, readings: dict[str, Any], filters: Sequence[str] = ()) -> Any:
    """The new rows of readings aggregated per sensor, after writing ``readings``."""
    graph = mxl.FeatureGraph()
    with graph.use():

        class Reading(
            mxl.Feature, spec=mxl.FeatureSpec(key="s/reading", id_columns=["reading_id"])
        ):
            sensor: str | None = None
            ok: bool | None = None

        aggregation = LR.aggregation(on=["sensor"])

        class Stat(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="s/stat",
                id_columns=["sensor"],
                deps=[mxl.FeatureDep(Reading, lineage=aggregation, filters=filters)],
            ),
        ):
            pass

    store = mxl.LakeStore(tmp_path / "store")
    store.write(Reading, pl.DataFrame(readings))
    return store, Stat


@pytest.mark.parametrize(
    ("dtype", "ids", "ordered"),
    [(pl.Int64, [10, 2, 33], [2, 10, 33]), (pl.String, ["10", "2", "33"], ["10", "2", "33"])],
)
def test_aggregation_orders_integer_ids_numerically_and_strings_bytewise(
    tmp_path: Path, dtype: Any, ids: list[Any], ordered: list[Any]
) -> None:
    readings = {
        "reading_id": pl.Series(ids, dtype=dtype),
        "sensor": ["s1"] * 3,
        PBF: [{"default": f"r{i}"} for i in ids],
    }
    store, stat = _stats(tmp_path, readings)
    (row,) = store.resolve_update(stat).new.collect().to_polars().to_dicts()
    group = _md5(*(f"r{i}" for i in ordered))  # each reading's data version, in order
    default = _md5("default", INITIAL, "s/reading.default", group)
    assert as_dict(row[PBF]) == {"default": default}
    assert row["metaxy_provenance"] == _md5(default)


def test_aggregation_applies_dep_filters_before_grouping(tmp_path: Path) -> None:
    readings = {
        "reading_id": ["r1", "r2", "r3"],
        "sensor": ["s1", "s1", "s2"],
        "ok": [True, False, False],
        PBF: [{"default": p} for p in ["p1", "p2", "p3"]],
    }
    store, stat = _stats(tmp_path, readings, filters=["ok = true"])
    (row,) = store.resolve_update(stat).new.collect().to_polars().to_dicts()
    assert row["sensor"] == "s1"  # s2 has no reading that passes
    default = _md5("default", INITIAL, "s/reading.default", _md5("p1"))
    assert as_dict(row[PBF]) == {"default": default}


def _define(graph: mxl.FeatureGraph, spec: mxl.FeatureSpec, **columns: type) -> None:
    with graph.use():
        model = type("Target", (mxl.Feature,), {"__annotations__": columns}, spec=spec)
        assert model is not None


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: LR.expansion(), mxl.LineageError, "needs on="),
        (lambda: LR.aggregation(on=[]), mxl.LineageError, "needs on="),
        (lambda: LR.aggregation(on="sensor"), mxl.LineageError, "needs on="),
        (lambda: LR.expansion(on=["a", "a"]), mxl.LineageError, "twice"),
    ],
)
def test_a_relationship_without_on_is_refused(make: Any, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        make()


@pytest.mark.parametrize(
    ("deps", "ids", "columns", "error", "words"),
    [
        ([("video", LR.expansion(on=["vid"]))], ["clip_id"], {"video_id": str}, UNKNOWN, "lacks"),
        ([("video", LR.expansion(on=["path"]))], ["clip_id"], {"path": str}, LINEAGE, "id col"),
        ([("video", LR.expansion(on=["video_id"]))], ["clip_id"], {}, LINEAGE, "to store"),
        ([("clip", LR.aggregation(on=["nope"]))], ["video_id"], {}, UNKNOWN, "lacks"),
        ([("clip", LR.aggregation(on=["video_id"]))], ["clip_id"], {}, LINEAGE, "id columns"),
        ([("video", "1:N")], ["clip_id"], {"video_id": str}, LINEAGE, "takes LineageRelation"),
        (
            [("clip", LR.aggregation(on=["video_id"])), ("clip2", LR.identity())],
            ["video_id"],
            {},
            LINEAGE,
            "same columns",
        ),
    ],
)
def test_bad_lineage_is_refused_at_definition(
    deps: list[tuple[str, Any]],
    ids: list[str],
    columns: dict[str, type],
    error: type[Exception],
    words: str,
) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Video(mxl.Feature, spec=mxl.FeatureSpec(key="v/video", id_columns=["video_id"])):
            path: str

        class Clip(mxl.Feature, spec=mxl.FeatureSpec(key="v/clip", id_columns=["clip_id"])):
            video_id: str

        class Clip2(mxl.Feature, spec=mxl.FeatureSpec(key="v/clip2", id_columns=["clip_id"])):
            video_id: str

    known = {"video": Video, "clip": Clip, "clip2": Clip2}
    spec = mxl.FeatureSpec(
        key="v/target",
        id_columns=ids,
        deps=[mxl.FeatureDep(known[name], lineage=lineage) for name, lineage in deps],
    )
    with pytest.raises(error, match=words):
        _define(graph, spec, **columns)
    assert "v/target" not in graph


def _written(store: mxl.LakeStore, summary: Any) -> None:
    rows = store.resolve_update(summary).new.collect().to_polars()
    store.write(summary, rows.with_columns(clips=pl.col("start").list.len()).drop("start"))


def test_audits_follow_expansions_and_aggregations(tmp_path: Path, fmt: str) -> None:
    video, clip, summary = _graph()
    store = mxl.LakeStore(tmp_path / "store", format=fmt)
    store.write(video, _videos({"a": ("a1", "f1"), "b": ("a2", "f2")}))
    store.write(clip, _children(store.resolve_update(clip).new.collect().to_polars(), 2))
    _written(store, summary)
    old_clips = store.read(clip).collect().to_polars().filter(pl.col("video_id") == "a")

    store.write(video, _videos({"a": ("a1-new", "f1")}))  # a's audio changes
    (cause,) = store.explain(clip, ["a-0"]).to_arrow().to_pylist()  # a child, per its parent
    assert (cause["ids"], cause["status"], cause["field"], cause["cause"]) == (
        {"clip_id": "a-0"},
        "stale",
        "audio",
        "upstream_data",
    )
    assert (cause["upstream_feature"], cause["stored"], cause["expected"]) == (
        "v/video",
        "a1",
        "a1-new",
    )
    graph = video.graph()
    status = store.sample_status([{"clip_id": "a-0"}], graph=graph).to_arrow().to_pylist()
    assert [(s["feature"], s["status"], s["metaxy_changed_fields"]) for s in status] == [
        ("v/clip", "stale", ["audio"])
    ]

    store.write(clip, _children(store.resolve_update(clip).stale.collect().to_polars(), 2))
    new_clips = store.read(clip).collect().to_polars().filter(pl.col("video_id") == "a")
    (speech,) = store.explain(summary, ["a"]).to_arrow().to_pylist()
    old_group, new_group = (
        _md5(*(as_dict(m)["audio"] for m in rows.sort("clip_id")[DVBF]))
        for rows in (old_clips, new_clips)
    )
    assert (speech["field"], speech["cause"], speech["upstream_feature"]) == (
        "speech",
        "upstream_data",
        "v/clip",
    )
    assert (speech["stored"], speech["expected"]) == (old_group, new_group)
    assert speech["upstream_write_id"] == new_clips["metaxy_write_id"][0]  # the newest member's

    # lineage finds the clips the summary was computed from, not today's
    found = store.lineage(summary, ["a"]).to_arrow().to_pylist()
    clips = [r for r in found if r["feature"] == "v/clip"]
    assert sorted(r["ids"]["clip_id"] for r in clips) == ["a-0", "a-1"]
    assert {r["metaxy_write_id"] for r in clips} == set(old_clips["metaxy_write_id"])
    assert all(r["verified"] and r["parent_feature"] == "v/summary" for r in clips)
    videos = {(r["depth"], r["parent_feature"]) for r in found if r["feature"] == "v/video"}
    assert videos == {(1, "v/summary"), (2, "v/clip")}

    store.delete(video, nw.col("video_id") == "b")  # b's clips are orphaned
    (orphan,) = store.explain(clip, ["b-1"]).to_arrow().to_pylist()
    assert (orphan["status"], orphan["cause"], orphan["upstream_feature"]) == (
        "orphaned",
        "upstream_deleted",
        "v/video",
    )


def test_lineage_flags_a_group_that_changed_before_its_row_was_written(tmp_path: Path) -> None:
    video, clip, summary = _graph()
    store = mxl.LakeStore(tmp_path / "store")
    store.write(video, _videos({"a": ("a1", "f1")}))
    parents = store.resolve_update(clip).new.collect().to_polars()
    store.write(clip, _children(parents, 2))
    rows = store.resolve_update(summary).new.collect().to_polars()
    store.write(clip, _children(parents, 3).filter(pl.col("clip_id") == "a-2"))  # meanwhile
    store.write(summary, rows.with_columns(clips=pl.lit(2)).drop("start"))

    found = store.lineage(summary, ["a"]).to_arrow().to_pylist()
    clips = [r for r in found if r["feature"] == "v/clip"]
    assert sorted(r["ids"]["clip_id"] for r in clips) == ["a-0", "a-1", "a-2"]
    assert not any(r["verified"] for r in clips)  # the three do not hash to what it recorded
    assert [r["verified"] for r in found if r["depth"] == 0] == [None]


def test_an_expansion_joins_a_one_to_one_dep_on_the_parent(tmp_path: Path) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Video(mxl.Feature, spec=mxl.FeatureSpec(key="m/video", id_columns=["video_id"])):
            pass

        class Meta(mxl.Feature, spec=mxl.FeatureSpec(key="m/meta", id_columns=["vid"])):
            lang: str

        class Clip(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="m/clip",
                id_columns=["clip_id"],
                deps=[
                    mxl.FeatureDep(Video, lineage=LR.expansion(on=["video_id"])),
                    mxl.FeatureDep(Meta, rename={"vid": "video_id"}),
                ],
            ),
        ):
            video_id: str

    store = mxl.LakeStore(tmp_path / "store")
    store.write(Video, pl.DataFrame({"video_id": ["a", "b"], PBF: [{"default": "v1"}] * 2}))
    store.write(
        Meta, pl.DataFrame({"vid": ["a"], "lang": ["en"], PBF: [{"default": "m1"}]})
    )  # b has no metadata: a required 1:1 dep, so no clips for b yet
    (row,) = store.resolve_update(Clip).new.collect().to_polars().to_dicts()
    default = _md5("default", INITIAL, "m/meta.default", "m1", "m/video.default", "v1")
    assert (row["video_id"], row["lang"]) == ("a", "en")
    assert as_dict(row["metaxy_provenance_by_field"]) == {"default": default}


def test_snapshots_record_the_shapes_and_the_tree_shows_them(tmp_path: Path) -> None:
    from rich.console import Console

    from metaxy_lake.cli.render import graph_tree
    from metaxy_lake.graph.snapshot import DepSnapshot, GraphSnapshot

    video, _, _ = _graph()
    graph = video.graph()
    store = mxl.LakeStore(tmp_path / "store")
    store.push_graph(graph=graph, git_commit=None)
    loaded = mxl.LakeStore(tmp_path / "store").load_snapshot()
    assert loaded == GraphSnapshot.of(graph)
    clip_dep, agg_dep, video_dep = (
        *loaded.features["v/clip"].deps,
        *loaded.features["v/summary"].deps,
    )
    assert (clip_dep.lineage, clip_dep.on) == ("expansion", ("video_id",))
    assert (agg_dep.lineage, agg_dep.on, video_dep.lineage) == (
        "aggregation",
        ("video_id",),
        "identity",
    )
    old = {"feature": "v/video", "columns": {"video_id": "video_id"}}  # before the shapes
    assert DepSnapshot.from_json(old) == DepSnapshot("v/video", {"video_id": "video_id"})

    console = Console(width=200, record=True)
    console.print(graph_tree(loaded))
    text = console.export_text()
    assert "video_id)  expansion on video_id" in text
    assert "aggregation on video_id" in text


def test_an_expansion_with_every_dep_optional_joins_integer_parents(tmp_path: Path) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Video(mxl.Feature, spec=mxl.FeatureSpec(key="i/video", id_columns=["video_id"])):
            video_id: int

        class Meta(mxl.Feature, spec=mxl.FeatureSpec(key="i/meta", id_columns=["video_id"])):
            video_id: int

        expansion = LR.expansion(on=["video_id"])

        class Clip(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="i/clip",
                id_columns=["clip_id"],
                deps=[
                    mxl.FeatureDep(Video, lineage=expansion, optional=True),
                    mxl.FeatureDep(Meta, optional=True),  # never written
                ],
            ),
        ):
            video_id: int

    store = mxl.LakeStore(tmp_path / "store")
    store.write(Video, pl.DataFrame({"video_id": [1, 2], PBF: [{"default": "v"}] * 2}))
    new = store.resolve_update(Clip).new.collect().to_polars()
    assert sorted(new["video_id"]) == [1, 2]


def test_expansion_scope_filters_decide_which_children_count(tmp_path: Path) -> None:
    video, clip, _ = _graph()
    store = mxl.LakeStore(tmp_path / "store")
    store.write(video, _videos({"a": ("a1", "f1"), "b": ("a2", "f2")}))
    store.write(clip, _children(store.resolve_update(clip).new.collect().to_polars(), 3))
    early = {clip: nw.col("start") < 1}
    # a predicate matching only children out of scope makes nothing stale
    inc = store.resolve_update(clip, filters=early, staleness_predicates=nw.col("start") == 2)
    assert inc.counts() == {"new": 0, "stale": 0, "orphaned": 0}
    # one out-of-scope child rewritten with other provenance is not seen either
    odd = _children(
        store.resolve_update(clip, staleness_predicates=nw.col("start") == 2)
        .stale.collect()
        .to_polars(),
        3,
    ).filter(pl.col("clip_id") == "a-2")
    store.write(clip, odd.with_columns(metaxy_provenance=pl.lit("other")))
    assert store.resolve_update(clip, filters=early).counts()["stale"] == 0
    assert store.resolve_update(clip).counts()["stale"] == 1
    # orphans: only the children in scope are reported
    store.delete(video, nw.col("video_id") == "b")
    inc = store.resolve_update(clip, filters=early)
    assert inc.orphaned.collect().to_polars()["clip_id"].to_list() == ["b-0"]
    assert inc.counts()["orphaned"] == 1


def test_an_aggregation_leaves_rows_without_a_group_out(tmp_path: Path) -> None:
    readings = {"reading_id": ["r1", "r2"], "sensor": ["s1", None], PBF: [{"default": "p"}] * 2}
    store, stat = _stats(tmp_path, readings)
    new = store.resolve_update(stat).new.collect().to_polars()
    assert new["sensor"].to_list() == ["s1"]
    assert [store.resolve_update(stat, shard=(i, 2)).counts()["new"] for i in range(2)] in (
        [1, 0],
        [0, 1],
    )


def test_an_expansion_child_must_declare_its_parents_id_type() -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Video(mxl.Feature, spec=mxl.FeatureSpec(key="t/video", id_columns=["video_id"])):
            video_id: int

        with pytest.raises(mxl.LineageError, match="declare the same type"):

            class Clip(
                mxl.Feature,
                spec=mxl.FeatureSpec(
                    key="t/clip",
                    id_columns=["clip_id"],
                    deps=[mxl.FeatureDep(Video, lineage=LR.expansion(on=["video_id"]))],
                ),
            ):
                video_id: str

    assert "t/clip" not in graph


def test_a_group_through_a_fallback_chain_is_the_one_served_then(tmp_path: Path) -> None:
    video, clip, summary = _graph()
    prod = mxl.LakeStore(tmp_path / "prod", name="prod")
    prod.write(video, _videos({"a": ("a1", "f1")}))
    prod.write(clip, _children(prod.resolve_update(clip).new.collect().to_polars(), 2))
    dev = mxl.LakeStore(tmp_path / "dev", name="dev", fallback=[prod])
    _written(dev, summary)
    again = _children(
        dev.resolve_update(clip, staleness_predicates=nw.lit(True)).stale.collect().to_polars(), 2
    ).filter(pl.col("clip_id") == "a-0")
    dev.write(clip, again)  # dev recomputes a-0 after the summary was written

    found = dev.lineage(summary, ["a"], depth=1).to_arrow().to_pylist()
    clips = {r["ids"]["clip_id"]: r for r in found if r["feature"] == "v/clip"}
    assert {c: r["metaxy_store"] for c, r in clips.items()} == {"a-0": "prod", "a-1": "prod"}
    assert all(r["verified"] for r in clips.values())


def test_explain_sees_an_aggregations_group_through_the_callers_filters(tmp_path: Path) -> None:
    video, clip, summary = _graph()
    store = mxl.LakeStore(tmp_path / "store")
    store.write(video, _videos({"a": ("a1", "f1")}))
    store.write(clip, _children(store.resolve_update(clip).new.collect().to_polars(), 2))
    _written(store, summary)
    store.write(video, _videos({"a": ("a2", "f1")}))  # new audio: the clips are cut again,
    store.write(clip, _children(store.resolve_update(clip).stale.collect().to_polars(), 3))

    audio = _clip_fields("a2", "f1")[0]["audio"]  # each new clip's audio data version
    for scope, members in (({clip: nw.col("start") < 2}, 2), (None, 3)):
        (cause,) = store.explain(summary, ["a"], filters=scope).to_arrow().to_pylist()
        assert (cause["field"], cause["upstream_feature"]) == ("speech", "v/clip")
        assert cause["expected"] == _md5(*[audio] * members)  # the group the increment saw
