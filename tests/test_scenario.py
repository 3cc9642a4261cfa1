"""The reference scenario (docs/design.md, Reference scenario), phase by phase, and ``mxl demo``."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

import metaxy_lake as mxl
from metaxy_lake.cli.app import app
from metaxy_lake.demo import build_features, run
from metaxy_lake.demo.scenario import videos


def counts(store: mxl.LakeStore, feature: type[mxl.Feature]) -> dict[str, int]:
    return store.resolve_update(feature).counts()


NOTHING = {"new": 0, "stale": 0, "orphaned": 0}


def materialise(store: mxl.LakeStore, feature: type[mxl.Feature], **values: object) -> None:
    inc = store.resolve_update(feature)
    rows = pl.concat(
        [inc.new.collect().to_polars(), inc.stale.collect().to_polars()], how="diagonal_relaxed"
    )
    store.write(feature, rows.with_columns(**{k: pl.lit(v) for k, v in values.items()}))


@pytest.fixture
def written(store: mxl.LakeStore) -> mxl.LakeStore:
    f = build_features()
    store.write(f.video, videos(6))
    materialise(store, f.crop, path="c")
    materialise(store, f.faces, count=1)
    materialise(store, f.speech_to_text, text="t")
    for feature in f.all[1:]:
        assert counts(store, feature) == NOTHING
    return store


def test_crop_audio_bump_in_three_phases(written: mxl.LakeStore) -> None:
    store, f = written, build_features(crop_audio_version="2")

    # phase 1: every Crop sample stale on audio; nothing downstream yet
    inc = store.resolve_update(f.crop)
    assert inc.counts() == {"new": 0, "stale": 6, "orphaned": 0}
    stale = inc.stale.collect().to_polars()
    assert stale["metaxy_changed_fields"].to_list() == [["audio"]] * 6
    assert "path" in stale.columns  # Video's user columns ride along
    assert counts(store, f.faces) == NOTHING
    assert counts(store, f.speech_to_text) == NOTHING

    # phase 2: Crop recomputed; SpeechToText stale on transcript, Faces untouched
    store.write(f.crop, stale.with_columns(path=pl.lit("c2")))
    assert counts(store, f.crop) == NOTHING
    assert counts(store, f.faces) == NOTHING
    sst = store.resolve_update(f.speech_to_text)
    assert sst.counts() == {"new": 0, "stale": 6, "orphaned": 0}
    assert (
        sst.stale.collect().to_polars()["metaxy_changed_fields"].to_list() == [["transcript"]] * 6
    )

    # phase 3: SpeechToText written; nothing left anywhere
    store.write(f.speech_to_text, sst.stale.collect().to_polars().with_columns(text=pl.lit("t2")))
    for feature in f.all[1:]:
        assert counts(store, feature) == NOTHING


def test_root_field_bump_makes_no_record_new_stale_or_orphaned(written: mxl.LakeStore) -> None:
    f = build_features(video_audio_version="2")
    for feature in f.all[1:]:
        assert counts(written, feature) == NOTHING
    root = written.resolve_update(f.video, samples=videos(6))
    assert root.counts() == NOTHING


def test_demo_reports_the_three_phases() -> None:
    result = CliRunner().invoke(app, ["demo", "--samples", "4", "--output", "json"])
    assert result.exit_code == 0, result.output
    phases = json.loads(result.output)["phases"]
    table = {
        p["title"].split(":")[0]: {
            s["feature"]: (s["new"], s["stale"], s["orphaned"], s["changed_fields"])
            for s in p["statuses"]
        }
        for p in phases
    }
    assert table["phase 1"] == {
        "example/crop": (0, 4, 0, ["audio"]),
        "example/faces": (0, 0, 0, []),
        "example/speech_to_text": (0, 0, 0, []),
    }
    assert table["phase 2"] == {
        "example/crop": (0, 0, 0, []),
        "example/faces": (0, 0, 0, []),
        "example/speech_to_text": (0, 4, 0, ["transcript"]),
    }
    assert all(v[:3] == (0, 0, 0) for v in table["phase 3"].values())
    assert phases[2]["versions_changed"] == ["example/crop", "example/speech_to_text"]


def test_demo_text_output() -> None:
    result = CliRunner().invoke(app, ["demo", "--samples", "3"])
    assert result.exit_code == 0, result.output
    assert "phase 1" in result.output and "phase 3" in result.output
    assert "transcript" in result.output


def test_run_on_a_store_reports_every_phase(store: mxl.LakeStore) -> None:
    phases = run(store, samples=2)
    assert [p.statuses[0].new for p in phases] == [2, 0, 0, 0, 0]
