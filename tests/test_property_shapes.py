"""Property test: expansion and aggregation increments equal a brute-force model.

The graph is the shape of a video pipeline: ``Video`` (root) expands into ``Clip`` rows
(``expansion(on=["video_id"])``), and ``Summary`` aggregates the clips of a video
(``aggregation(on=["vid"])`` after a rename) and joins ``Video`` 1:1 (required or optional).
Each example draws the hash algorithm and length, the type of the clip ids (integers sort
numerically, strings bytewise), whether the aggregation filters its clips, and random
steps: videos change, arrive and leave; writers write all, some or none of each
increment, expand a parent into a random number of clips (sometimes overriding a data
version, sometimes leaving clips of an earlier expansion behind), and delete orphans.

The model is written from docs/design.md only, in plain Python with
``hashlib`` and ``xxhash``: nothing is imported from the engine.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from typing import Any

import narwhals as nw
import polars as pl
import xxhash
from helpers import as_dict, string_map
from hypothesis import given, note, settings
from hypothesis import strategies as st

import metaxy_lake as mxl

INITIAL = "__metaxy_initial__"
VIDEO, CLIP, SUMMARY = "v/video", "v/clip", "v/summary"
VIDEO_FIELDS = ("audio", "frames")
SUMMARY_FIELDS = ("audio", "cover")
PBF, PROV, DVBF, DV = (
    "metaxy_provenance_by_field",
    "metaxy_provenance",
    "metaxy_data_version_by_field",
    "metaxy_data_version",
)
UPSTREAM, CHANGED = "metaxy_upstream", "metaxy_changed_fields"
LR = mxl.LineageRelationship


@dataclass(frozen=True)
class Shape:
    algorithm: str
    length: int
    int_ids: bool
    filtered: bool  # Summary takes only the clips with start >= 1
    optional_video: bool  # Summary's 1:1 dep on Video is optional


@dataclass
class Row:
    pbf: dict[str, str]
    prov: str
    dvbf: dict[str, str]
    dv: str
    upstream: dict[str, str]


@dataclass
class ClipRow:
    video_id: str
    start: float
    row: Row


@dataclass
class Model:
    shape: Shape
    videos: dict[str, Row] = field(default_factory=dict)
    clips: dict[Any, ClipRow] = field(default_factory=dict)
    summaries: dict[str, Row] = field(default_factory=dict)

    def hash(self, text: str) -> str:
        data = text.encode()
        if self.shape.algorithm == "xxhash64":
            digest = str(xxhash.xxh64_intdigest(data))
        else:
            digest = hashlib.new(self.shape.algorithm, data).hexdigest()
        return digest[: self.shape.length]

    def combine(self, by_field: dict[str, str]) -> str:
        return self.hash("|".join(by_field[k] for k in sorted(by_field)))

    def row(self, field_parts: dict[str, list[str]], upstream: dict[str, str]) -> Row:
        pbf = {f: self.hash("|".join([f, INITIAL, *parts])) for f, parts in field_parts.items()}
        prov = self.combine(pbf)
        return Row(pbf, prov, dict(pbf), prov, upstream)

    # expected rows

    def expected_clips(self) -> dict[str, Row]:
        """One row per parent video (docs/design.md, Dependency shapes)."""
        return {
            vid: self.row(
                {f: [f"{VIDEO}.{f}", video.dvbf[f]] for f in VIDEO_FIELDS}, {VIDEO: video.dv}
            )
            for vid, video in self.videos.items()
        }

    def groups(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for clip_id, clip in self.clips.items():
            if not self.shape.filtered or clip.start >= 1:
                out.setdefault(clip.video_id, []).append(clip_id)
        return {vid: sorted(ids) for vid, ids in out.items()}  # ints numerically, str bytewise

    def expected_summaries(self) -> dict[str, Row]:
        groups = self.groups()
        keys = set(groups) if self.shape.optional_video else set(groups) & set(self.videos)
        out = {}
        for vid in keys:
            members = [self.clips[c].row for c in groups[vid]]

            def clip_value(f: str, members: list[Row] = members) -> str:
                return self.hash("|".join(m.dvbf[f] for m in members))

            video = self.videos.get(vid)

            def video_value(f: str, video: Row | None = video) -> str:
                return video.dvbf[f] if video else ""

            parts = {  # per field, its upstream fields in fq key order: v/clip.* < v/video.*
                "audio": [
                    f"{CLIP}.audio",
                    clip_value("audio"),
                    f"{VIDEO}.audio",
                    video_value("audio"),
                ],
                "cover": [
                    *(x for f in VIDEO_FIELDS for x in (f"{CLIP}.{f}", clip_value(f))),
                    *(x for f in VIDEO_FIELDS for x in (f"{VIDEO}.{f}", video_value(f))),
                ],
            }
            upstream = {
                CLIP: self.hash("|".join(m.dv for m in members)),
                VIDEO: video.dv if video else "",
            }
            out[vid] = self.row(parts, upstream)
        return out

    # increments

    def clip_increment(self) -> tuple[dict[str, Row], dict[str, tuple[list[str], Row]], set[Any]]:
        expected = self.expected_clips()
        children: dict[str, list[Row]] = {}
        for clip in self.clips.values():
            children.setdefault(clip.video_id, []).append(clip.row)
        new = {vid: row for vid, row in expected.items() if vid not in children}
        stale = {}
        for vid, row in expected.items():
            stored = children.get(vid, [])
            if any(c.prov != row.prov for c in stored):
                changed = [f for f in VIDEO_FIELDS if any(c.pbf[f] != row.pbf[f] for c in stored)]
                stale[vid] = (changed, row)
        orphans = {c for c, clip in self.clips.items() if clip.video_id not in expected}
        return new, stale, orphans

    def summary_increment(
        self,
    ) -> tuple[dict[str, Row], dict[str, tuple[list[str], Row]], set[str]]:
        expected = self.expected_summaries()
        live = self.summaries
        new = {vid: row for vid, row in expected.items() if vid not in live}
        stale = {
            vid: ([f for f in SUMMARY_FIELDS if live[vid].pbf[f] != row.pbf[f]], row)
            for vid, row in expected.items()
            if vid in live and live[vid].prov != row.prov
        }
        return new, stale, set(live) - set(expected)


def build(shape: Shape) -> tuple[type[mxl.Feature], type[mxl.Feature], type[mxl.Feature]]:
    graph = mxl.FeatureGraph(hash_length=shape.length)
    with graph.use():

        class Video(
            mxl.Feature,
            spec=mxl.FeatureSpec(key=VIDEO, id_columns=["video_id"], fields=list(VIDEO_FIELDS)),
        ):
            pass

        clip_spec = mxl.FeatureSpec(
            key=CLIP,
            id_columns=["clip_id"],
            deps=[mxl.FeatureDep(Video, lineage=LR.expansion(on=["video_id"]))],
            fields=list(VIDEO_FIELDS),
        )
        annotations = {"clip_id": int if shape.int_ids else str, "video_id": str, "start": float}
        Clip = type("Clip", (mxl.Feature,), {"__annotations__": annotations}, spec=clip_spec)

        class Summary(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key=SUMMARY,
                id_columns=["vid"],
                deps=[
                    mxl.FeatureDep(
                        Clip,
                        rename={"video_id": "vid"},
                        select=[],
                        filters=["start >= 1"] if shape.filtered else (),
                        lineage=LR.aggregation(on=["vid"]),
                    ),
                    mxl.FeatureDep(
                        Video, rename={"video_id": "vid"}, optional=shape.optional_video
                    ),
                ],
                fields=list(SUMMARY_FIELDS),
            ),
        ):
            pass

    return Video, Clip, Summary


def assert_row(actual: dict[str, Any], want: Row, what: str) -> None:
    got = Row(
        as_dict(actual[PBF]),
        actual[PROV],
        as_dict(actual[DVBF]),
        actual[DV],
        as_dict(actual[UPSTREAM]),
    )
    assert got == want, f"{what}: {got} != model {want}"


def by_key(frame: Any, key: str) -> dict[Any, dict[str, Any]]:
    rows = frame.collect().to_polars().to_dicts()
    out = {r[key]: r for r in rows}
    assert len(out) == len(rows), f"duplicate {key} in {rows}"
    return out


def check(inc: mxl.Increment, want: tuple[Any, Any, Any], key: str, orphan_key: str) -> None:
    new, stale, orphaned = want
    got_new, got_stale = by_key(inc.new, key), by_key(inc.stale, key)
    got_orphans = set(inc.orphaned.collect().to_polars()[orphan_key].to_list())
    assert set(got_new) == set(new), f"{inc}: new {sorted(got_new)} != model {sorted(new)}"
    assert set(got_stale) == set(stale), f"{inc}: stale {sorted(got_stale)} != {sorted(stale)}"
    assert got_orphans == orphaned, f"{inc}: orphaned {got_orphans} != model {orphaned}"
    assert inc.counts() == {"new": len(new), "stale": len(stale), "orphaned": len(orphaned)}
    for k, row in got_new.items():
        assert_row(row, new[k], f"new {k}")
    for k, row in got_stale.items():
        assert list(row[CHANGED]) == stale[k][0], f"stale {k}: changed {row[CHANGED]}"
        assert_row(row, stale[k][1], f"stale {k}")


class Pipeline:
    def __init__(self, root: str, shape: Shape, data: st.DataObject, fmt: str) -> None:
        self.shape, self.data = shape, data
        self.model = Model(shape)
        self.video, self.clip, self.summary = build(shape)
        self.store = mxl.LakeStore(root, format=fmt, hash_algorithm=shape.algorithm)
        self.next_id = 0

    def draw(self, strategy: st.SearchStrategy[Any], label: str) -> Any:
        return self.data.draw(strategy, label=label)

    def pick(self, items: Any, label: str) -> list[Any]:
        pool = sorted(items)
        if not pool:
            return []
        how = self.draw(st.sampled_from(["all", "all", "some", "none"]), f"{label} how")
        if how == "some":
            return self.draw(st.lists(st.sampled_from(pool), unique=True), label)
        return pool if how == "all" else []

    def write_videos(self, values: dict[str, dict[str, str]]) -> None:
        if not values:
            return
        frame = pl.DataFrame({"video_id": list(values), PBF: list(values.values())})
        self.store.write(self.video, frame)
        for vid, pbf in values.items():
            prov = self.model.combine(pbf)
            self.model.videos[vid] = Row(dict(pbf), prov, dict(pbf), prov, {})

    def delete(self, feature: Any, column: str, values: list[Any]) -> None:
        if values:
            self.store.delete(feature, nw.col(column).is_in(values))

    def expand(self, step: str) -> None:
        """Resolve Clip, check it, and write children for some parents."""
        want = self.model.clip_increment()
        inc = self.store.resolve_update(self.clip)
        check(inc, want, "video_id", "clip_id")
        new, stale, orphans = want
        rows = {**by_key(inc.new, "video_id"), **by_key(inc.stale, "video_id")}
        children: list[dict[str, Any]] = []
        for vid in self.pick(rows, f"{step} expand"):
            parent, expected = rows[vid], {**new, **{k: v[1] for k, v in stale.items()}}[vid]
            old = [c for c, clip in self.model.clips.items() if clip.video_id == vid]
            if old and self.draw(st.booleans(), f"{step} {vid} drop old clips"):
                self.delete(self.clip, "clip_id", old)
                for c in old:
                    del self.model.clips[c]
            for start in range(self.draw(st.integers(1, 3), f"{step} {vid} clips")):
                self.next_id += 1
                clip_id = self.next_id * 37 % 1009  # unique, of one to four digits
                key: Any = clip_id if self.shape.int_ids else str(clip_id)
                override = self.draw(st.sampled_from([None, None, "content"]), f"{step} dv")
                dvbf = {**expected.pbf, **({"audio": "c0nst"} if override else {})}
                children.append(
                    {
                        "clip_id": key,
                        "video_id": vid,
                        "start": float(start),
                        PBF: as_dict(parent[PBF]),
                        PROV: parent[PROV],
                        UPSTREAM: as_dict(parent[UPSTREAM]),
                        DVBF: dvbf,
                    }
                )
                row = Row(
                    expected.pbf, expected.prov, dvbf, self.model.combine(dvbf), expected.upstream
                )
                self.model.clips[key] = ClipRow(vid, float(start), row)
        if children:
            maps = {
                c: string_map([child.pop(c) for child in children]) for c in (PBF, UPSTREAM, DVBF)
            }
            frame = pl.DataFrame(children).with_columns(**maps)
            self.store.write(self.clip, frame)
        if orphans and self.draw(st.booleans(), f"{step} delete orphan clips"):
            self.delete(self.clip, "clip_id", sorted(orphans))
            for c in orphans:
                del self.model.clips[c]

    def aggregate(self, step: str) -> None:
        want = self.model.summary_increment()
        inc = self.store.resolve_update(self.summary)
        check(inc, want, "vid", "vid")
        new, stale, orphans = want
        frame = pl.concat(
            [inc.new.collect().to_polars(), inc.stale.collect().to_polars().drop(CHANGED)]
        )
        chosen = self.pick(frame["vid"].to_list(), f"{step} summarise")
        if chosen:
            self.store.write(self.summary, frame.filter(pl.col("vid").is_in(chosen)))
            expected = {**new, **{k: v[1] for k, v in stale.items()}}
            self.model.summaries.update({v: expected[v] for v in chosen})
        if orphans and self.draw(st.booleans(), f"{step} delete orphan summaries"):
            self.delete(self.summary, "vid", sorted(orphans))
            for v in orphans:
                del self.model.summaries[v]

    def run_pass(self, step: str) -> None:
        self.expand(step)
        self.aggregate(step)

    def step(self, n: int) -> None:
        kind = self.draw(st.sampled_from(["change", "arrive", "leave", "change"]), f"step {n}")
        videos = sorted(self.model.videos)
        if kind == "change" and videos:
            chosen = self.draw(st.lists(st.sampled_from(videos), min_size=1, unique=True), "ch")
            fields = self.draw(st.sampled_from([["audio"], ["frames"], list(VIDEO_FIELDS)]), "f")
            self.write_videos(
                {
                    v: {**self.model.videos[v].pbf, **{f: f"{f}{n}-{v}" for f in fields}}
                    for v in chosen
                }
            )
        elif kind == "leave" and videos:
            chosen = self.draw(st.lists(st.sampled_from(videos), min_size=1, unique=True), "lv")
            self.delete(self.video, "video_id", chosen)
            for v in chosen:
                del self.model.videos[v]
        else:
            free = [f"v{i}" for i in range(8) if f"v{i}" not in self.model.videos]
            chosen = (
                self.draw(
                    st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True), "ar"
                )
                if free
                else []
            )
            self.write_videos({v: {"audio": f"a-{v}", "frames": f"f-{v}"} for v in chosen})
        note(f"step {n}: {kind}")


shapes = st.builds(
    Shape,
    algorithm=st.sampled_from(["md5", "xxhash64", "sha256"]),
    length=st.integers(8, 24),
    int_ids=st.booleans(),
    filtered=st.booleans(),
    optional_video=st.booleans(),
)


# Two resolves a pass and up to four passes an example, once per format: a quarter of the
# profile's examples (7 under ci, 50 under the slow profile).
@settings(max_examples=max(1, settings.default.max_examples // 4))
@given(shape=shapes, data=st.data())
def test_expansion_and_aggregation_match_brute_force_model(
    shape: Shape, data: st.DataObject, fmt: str
) -> None:
    note(f"shape: {shape} on {fmt}")
    with tempfile.TemporaryDirectory() as tmp:
        pipe = Pipeline(tmp, shape, data, fmt)
        count = data.draw(st.integers(1, 5), label="videos")
        pipe.write_videos({f"v{i}": {"audio": f"a{i}", "frames": f"f{i}"} for i in range(count)})
        pipe.run_pass("initial")
        for n in range(data.draw(st.integers(1, 3), label="steps")):
            pipe.step(n)
            pipe.run_pass(f"step {n}")
