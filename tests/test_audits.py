"""Audits: reads as of a time, lineage, explain, where a sample stands.

See docs/design.md (Time travel, Lineage rows, Explain rows, Sample status).

Three rounds of the reference pipeline on every format: video_0001's audio changes in
rounds 2 and 3; round 2 recomputes Crop and SpeechToText, round 3 Crop only, so
SpeechToText is stale for video_0001 afterwards. The times between rounds are recorded.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from helpers import table_state

import metaxy_lake as mxl
from metaxy_lake.demo.scenario import ScenarioFeatures, build_features, compute, videos

S1 = "video_0001"


def _videos(audio: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sample_uid": list(audio),
            "path": [f"s3://videos/{u}.mp4" for u in audio],
            "metaxy_provenance_by_field": [
                {"audio": a, "frames": f"f-{u}"} for u, a in audio.items()
            ],
        }
    )


def _live(
    store: mxl.LakeStore, features: ScenarioFeatures, **kwargs: Any
) -> dict[str, dict[str, str]]:
    """Feature key → sample → write id of its live row."""
    out = {}
    for feature in features.all:
        rows = store.read(feature, **kwargs).collect().to_polars()
        out[str(feature.key())] = dict(
            zip(rows["sample_uid"], rows["metaxy_write_id"], strict=True)
        )
    return out


@dataclass
class Rounds:
    store: mxl.LakeStore
    features: ScenarioFeatures
    marks: list[dt.datetime]
    live: list[dict[str, dict[str, str]]]


def _mark(rounds: Rounds) -> None:
    time.sleep(0.02)  # commit times are kept to the millisecond
    rounds.marks.append(dt.datetime.now(dt.UTC))
    rounds.live.append(_live(rounds.store, rounds.features))
    time.sleep(0.02)


def three_rounds(store: mxl.LakeStore) -> Rounds:
    f = build_features()
    rounds = Rounds(store, f, [], [])
    store.push_graph(git_commit=None, graph=f.graph)
    store.write(f.video, videos(3))
    for feature in f.all[1:]:
        store.write(feature, compute(feature, store.resolve_update(feature)))
    _mark(rounds)
    store.write(f.video, _videos({S1: "a2"}))
    for feature in (f.crop, f.speech_to_text):
        store.write(feature, compute(feature, store.resolve_update(feature)))
    _mark(rounds)
    store.write(f.video, _videos({S1: "a3"}))
    store.write(f.crop, compute(f.crop, store.resolve_update(f.crop)))
    _mark(rounds)
    return rounds


@pytest.fixture
def rounds(tmp_path: Path, fmt: str) -> Rounds:
    return three_rounds(mxl.LakeStore(tmp_path / "store", format=fmt))


def _rows(frame: Any) -> list[dict[str, Any]]:
    return frame.to_arrow().to_pylist()


def _by_feature(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["feature"]: r for r in rows}


def test_reads_and_lineage_as_of_each_round(rounds: Rounds) -> None:
    store, f = rounds.store, rounds.features
    for mark, live in zip(rounds.marks, rounds.live, strict=True):
        assert _live(store, f, as_of=mark) == live  # exactly the rows live then

    # SpeechToText of S1 as of round 1: the round-1 Crop and Video rows, replaced since
    first = _by_feature(_rows(store.lineage(f.speech_to_text, [S1], as_of=rounds.marks[0])))
    assert {k: r["metaxy_write_id"] for k, r in first.items()} == {
        k: rounds.live[0][k][S1] for k in first
    }
    assert set(first) == {"example/speech_to_text", "example/crop", "example/video"}
    assert dict(first["example/video"]["metaxy_provenance_by_field"])["audio"] == f"a-{S1}"
    assert first["example/crop"]["depth"] == 1
    assert first["example/crop"]["parent_feature"] == "example/speech_to_text"
    assert dict(first["example/crop"]["code_versions"]) == {
        "audio": "__metaxy_initial__",
        "frames": "__metaxy_initial__",
    }
    assert first["example/video"]["values"]["path"] == f"s3://videos/{S1}.mp4"

    # now: SpeechToText still holds its round-2 row, computed from round-2 inputs
    now = _by_feature(_rows(store.lineage(f.speech_to_text, {"sample_uid": S1})))
    assert now["example/crop"]["metaxy_write_id"] == rounds.live[1]["example/crop"][S1]
    assert dict(now["example/video"]["metaxy_provenance_by_field"])["audio"] == "a2"
    # and Crop's lineage now is its round-3 row over the round-3 video
    crop = _by_feature(_rows(store.lineage(f.crop, [S1])))
    assert crop["example/video"]["metaxy_write_id"] == rounds.live[2]["example/video"][S1]
    assert [r["feature"] for r in _rows(store.lineage(f.crop, [S1], depth=0))] == ["example/crop"]


def test_explain_names_fields_causes_and_commits(rounds: Rounds) -> None:
    store, f = rounds.store, rounds.features
    (cause,) = _rows(store.explain(f.speech_to_text, [S1]))
    crop_now = store.read(f.crop, filters=nw.col("sample_uid") == S1).collect().to_polars()
    assert cause["ids"] == {"sample_uid": S1}
    assert (cause["status"], cause["field"], cause["cause"]) == (
        "stale",
        "transcript",
        "upstream_data",
    )
    assert (cause["upstream_feature"], cause["upstream_field"]) == ("example/crop", "audio")
    assert cause["expected"] == dict(crop_now["metaxy_data_version_by_field"][0])["audio"]
    assert cause["stored"] != cause["expected"] and cause["stored"] is not None
    assert cause["upstream_write_id"] == rounds.live[2]["example/crop"][S1]

    # recursive: Crop's audio changed because Video's audio did (a2 -> a3), at the root
    causes = _rows(store.explain(f.speech_to_text, [S1], recursive=True))
    deeper = [c for c in causes if c["depth"] == 1]
    assert [(c["feature"], c["field"], c["cause"], c["upstream_feature"]) for c in deeper] == [
        ("example/crop", "audio", "upstream_data", "example/video")
    ]
    assert (deeper[0]["stored"], deeper[0]["expected"]) == ("a2", "a3")
    assert deeper[0]["upstream_write_id"] == rounds.live[2]["example/video"][S1]

    assert _rows(store.explain(f.faces, [S1])) == []  # up to date: no row
    bumped = build_features(crop_audio_version="2")
    code = _rows(bumped_explain := store.explain(bumped.crop, ["video_0002"]))
    assert [(c["field"], c["cause"], c["stored"], c["expected"]) for c in code] == [
        ("audio", "code_version", "__metaxy_initial__", "2")
    ]
    assert bumped_explain.columns[:3] == ["ids", "feature", "depth"]

    store.write(f.video, _videos({"video_0009": "a9"}))  # a sample with no row yet
    store.delete(f.video, nw.col("sample_uid") == "video_0002")  # orphans its crop
    causes = _rows(store.explain(f.crop, ["video_0009", "video_0002", "video_0000"]))
    assert sorted(
        (c["ids"]["sample_uid"], c["status"], c["cause"], c["upstream_feature"]) for c in causes
    ) == [
        ("video_0002", "orphaned", "upstream_deleted", "example/video"),
        ("video_0009", "new", "no_row", None),
    ]
    predicate = _rows(
        store.explain(f.faces, ["video_0000"], staleness_predicates=nw.col("count") == 1)
    )
    assert [(c["status"], c["field"], c["cause"]) for c in predicate] == [
        ("stale", None, "predicate")
    ]


def test_sample_status_says_where_a_sample_stands(rounds: Rounds) -> None:
    store, f = rounds.store, rounds.features
    rows = _rows(store.sample_status([S1, "video_0000"], graph=f.graph))
    status = {(r["feature"], r["ids"]["sample_uid"]): r["status"] for r in rows}
    assert status == {
        ("example/video", S1): "up_to_date",
        ("example/video", "video_0000"): "up_to_date",
        ("example/crop", S1): "up_to_date",
        ("example/crop", "video_0000"): "up_to_date",
        ("example/faces", S1): "up_to_date",
        ("example/faces", "video_0000"): "up_to_date",
        ("example/speech_to_text", S1): "stale",
        ("example/speech_to_text", "video_0000"): "up_to_date",
    }
    crop = next(r for r in rows if r["feature"] == "example/crop" and r["ids"]["sample_uid"] == S1)
    assert crop["metaxy_write_id"] == rounds.live[2]["example/crop"][S1]
    assert crop["metaxy_created_at"] is not None
    unknown = _rows(store.sample_status(["nope"], graph=f.graph))
    assert {r["status"] for r in unknown} == {"absent"} and len(unknown) == 4


def test_time_travel_errors_name_the_table_start_or_the_horizon(tmp_path: Path, fmt: str) -> None:
    store = mxl.LakeStore(tmp_path / "store", format=fmt, retention=dt.timedelta(seconds=1))
    f = build_features()
    before = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    store.write(f.video, videos(2))
    store.write(f.video, videos(2))
    between = dt.datetime.now(dt.UTC)
    for call in (
        lambda: store.read(f.video, as_of=before).collect(),
        lambda: store.lineage(f.video, ["video_0000"], as_of=before),
    ):
        with pytest.raises(mxl.TimeTravelError, match="did not exist yet"):
            call()
    time.sleep(1.2)
    store.write(f.video, videos(2))
    store.expire(f.video)  # the store's retention: 1 s
    for call in (
        lambda: store.read(f.video, as_of=between).collect(),
        lambda: store.lineage(f.video, ["video_0000"], as_of=between),
    ):
        with pytest.raises(mxl.TimeTravelError, match=r"kept from .*the horizon"):
            call()


def test_audit_bad_input(tmp_path: Path) -> None:
    store = mxl.LakeStore(tmp_path / "store")
    f = build_features()
    store.write(f.video, videos(2))
    before = table_state(store, f.video)
    assert _rows(store.lineage(f.video, ["nope"])) == []  # an unknown sample: empty
    assert _rows(store.explain(f.crop, ["nope"])) == []
    with pytest.raises(mxl.UnknownFeatureError):
        store.lineage("example/nope", ["video_0000"])
    with pytest.raises(mxl.UnknownFeatureError):
        store.explain("example/nope", ["video_0000"])
    with pytest.raises(mxl.MissingIdColumnError):
        store.lineage(f.video, [{}])
    with pytest.raises(mxl.UndeclaredColumnError):
        store.explain(f.crop, {"sample_uid": "video_0000", "other": 1})
    with pytest.raises(mxl.NullIdError):
        store.lineage(f.video, [None])
    with pytest.raises(mxl.TimeTravelError, match="no time zone"):
        store.lineage(f.video, ["video_0000"], as_of="2026-01-01T00:00:00")
    assert table_state(store, f.video) == before


def test_lineage_through_a_chain_names_each_row_store(tmp_path: Path) -> None:
    prod = mxl.LakeStore(tmp_path / "prod", name="prod")
    f = build_features()
    prod.write(f.video, videos(2))
    prod.write(f.crop, compute(f.crop, prod.resolve_update(f.crop)))
    dev = mxl.LakeStore(tmp_path / "dev", name="dev", fallback=[prod])
    dev.write(f.video, _videos({S1: "dev-audio"}))  # dev now serves S1's video
    dev.write(f.crop, compute(f.crop, dev.resolve_update(f.crop)))
    assert {r["metaxy_store"] for r in _rows(dev.lineage(f.crop, [S1], depth=0))} == {"dev"}
    both = _rows(dev.lineage(f.crop, [S1, "video_0000"]))
    served = {(r["feature"], r["ids"]["sample_uid"]): r["metaxy_store"] for r in both}
    assert served == {
        ("example/crop", S1): "dev",
        ("example/crop", "video_0000"): "prod",
        ("example/video", S1): "dev",
        ("example/video", "video_0000"): "prod",
    }
    # dev copies video_0000 as prod has it: prod's Crop of it was computed from prod's
    # video row, which the overlay now hides; lineage searches every store of the chain
    dev.write(f.video, videos(2).filter(pl.col("sample_uid") == "video_0000"))
    rows = _rows(dev.lineage(f.crop, ["video_0000"]))
    assert [(r["feature"], r["metaxy_store"]) for r in rows] == [
        ("example/crop", "prod"),
        ("example/video", "prod"),
    ]
    assert _served(dev, f.video, "video_0000") == "dev"


def _served(store: mxl.LakeStore, feature: Any, uid: str) -> str:
    rows = store.read(feature, with_store=True, filters=nw.col("sample_uid") == uid)
    return str(rows.collect().to_polars()["metaxy_store"][0])


def test_a_row_whose_snapshot_was_never_recorded_is_code_version_by_elimination(
    tmp_path: Path,
) -> None:
    store = mxl.LakeStore(tmp_path / "store")  # no graph push: no catalog
    f = build_features()
    store.write(f.video, videos(1))
    store.write(f.crop, compute(f.crop, store.resolve_update(f.crop)))
    bumped = build_features(crop_audio_version="2")
    causes = _rows(store.explain(bumped.crop, ["video_0000"]))
    assert [(c["field"], c["cause"], c["stored"], c["expected"]) for c in causes] == [
        ("audio", "code_version", None, "2")
    ]
    (row,) = _rows(store.lineage(f.crop, ["video_0000"], depth=0))
    assert row["code_versions"] is None
