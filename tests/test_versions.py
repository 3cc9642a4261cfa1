"""Graph-level versions (docs/design.md, Versions), recomputed here with hashlib."""

from __future__ import annotations

import hashlib

import pytest

import metaxy_lake as mxl
from metaxy_lake.demo import build_features


def sha(*parts: str, length: int = 16) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:length]


def expected_versions(
    crop_audio: str = "__metaxy_initial__", video_audio: str = "1", length: int = 16
) -> dict[str, dict[str, str]]:
    """Field versions of the reference scenario, by hand (docs/design.md, Versions)."""
    init = "__metaxy_initial__"
    v_frames = sha("example/video.frames", init, length=length)
    v_audio = sha("example/video.audio", video_audio, length=length)
    c_frames = sha("example/crop.frames", init, v_frames, length=length)
    c_audio = sha("example/crop.audio", crop_audio, v_audio, length=length)
    faces = sha("example/faces.faces", init, c_frames, length=length)
    transcript = sha("example/speech_to_text.transcript", init, c_audio, length=length)
    return {
        "example/video": {"audio": v_audio, "frames": v_frames},
        "example/crop": {"audio": c_audio, "frames": c_frames},
        "example/faces": {"faces": faces},
        "example/speech_to_text": {"transcript": transcript},
    }


def feature_version(fields: dict[str, str], length: int = 16) -> str:
    return sha(*[p for k in sorted(fields) for p in (k, fields[k])], length=length)


def test_golden_field_feature_and_snapshot_versions() -> None:
    features = build_features()
    expected = expected_versions()
    for feature in features.all:
        key = str(feature.key())
        assert feature.field_versions() == expected[key]
        assert feature.feature_version() == feature_version(expected[key])
    snapshot = sha(*[p for k in sorted(expected) for p in (k, feature_version(expected[k]))])
    assert features.graph.snapshot_version() == snapshot


def test_hash_length_applies_to_every_version() -> None:
    g = mxl.FeatureGraph(hash_length=40)
    with g.use():

        class V(mxl.Feature, spec=mxl.FeatureSpec(key="v", fields=["a"])):
            pass

        class D(mxl.Feature, spec=mxl.FeatureSpec(key="d", deps=[V], fields=["a"])):
            pass

    va = sha("v.a", "__metaxy_initial__", length=40)
    da = sha("d.a", "__metaxy_initial__", va, length=40)
    assert D.field_versions() == {"a": da}
    assert D.feature_version() == sha("a", da, length=40)
    assert len(g.snapshot_version()) == 40


@pytest.mark.parametrize("length", [7, 65])
def test_hash_length_bounds(length: int) -> None:
    with pytest.raises(ValueError, match="hash_length"):
        mxl.FeatureGraph(hash_length=length)


def test_default_field_mapping_falls_back_to_all_upstream_fields(graph: mxl.FeatureGraph) -> None:
    class V(mxl.Feature, spec=mxl.FeatureSpec(key="v", fields=["audio", "frames"])):
        pass

    class D(mxl.Feature, spec=mxl.FeatureSpec(key="d", deps=[V], fields=["audio", "summary"])):
        pass

    v = V.field_versions()
    init = "__metaxy_initial__"
    assert D.field_versions() == {
        "audio": sha("d.audio", init, v["audio"]),
        "summary": sha("d.summary", init, v["audio"], v["frames"]),
    }


def test_omitted_fields_mean_one_default_field(graph: mxl.FeatureGraph) -> None:
    class V(mxl.Feature, spec=mxl.FeatureSpec(key="v")):
        pass

    assert V.field_versions() == {"default": sha("v.default", "__metaxy_initial__")}


def test_root_field_bump_changes_graph_versions_only_downstream_of_audio() -> None:
    before, after = build_features(), build_features(video_audio_version="2")
    changed = {
        str(b.key())
        for b, a in zip(before.all, after.all, strict=True)
        if b.feature_version() != a.feature_version()
    }
    assert changed == {"example/video", "example/crop", "example/speech_to_text"}
    assert after.faces.field_versions() == before.faces.field_versions()
    assert after.video.field_versions() == expected_versions(video_audio="2")["example/video"]


def test_crop_audio_bump_changes_crop_and_speech_to_text_not_faces() -> None:
    before, after = build_features(), build_features(crop_audio_version="2")
    assert before.crop.feature_version() != after.crop.feature_version()
    assert before.speech_to_text.feature_version() != after.speech_to_text.feature_version()
    assert before.faces.feature_version() == after.faces.feature_version()
    assert before.video.feature_version() == after.video.feature_version()
    assert before.graph.snapshot_version() != after.graph.snapshot_version()


def test_default_graph_reads_hash_length_from_config(tmp_path) -> None:
    import subprocess
    import sys

    (tmp_path / "metaxy_lake.toml").write_text("hash_length = 12\n")
    script = (
        "import metaxy_lake as mxl\n"
        "class V(mxl.Feature, spec=mxl.FeatureSpec(key='v')):\n    pass\n"
        "print(V.feature_version())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == sha("default", sha("v.default", "__metaxy_initial__", length=12), length=12)
