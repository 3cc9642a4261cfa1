"""xxhash32 and xxhash64 record hashes (docs/design.md, Hash recipe), Metaxy's defaults.

The reference scenario's provenance under each algorithm and hash length equals the
recipe computed here with the ``xxhash`` package (seed 0, unsigned decimal text,
truncated), which the code under test does not use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xxhash

import metaxy_lake as mxl
from metaxy_lake.demo.scenario import build_features, compute, videos

DIGEST = {"xxhash32": xxhash.xxh32_intdigest, "xxhash64": xxhash.xxh64_intdigest}


def _hash(algorithm: str, length: int, *parts: str) -> str:
    return str(DIGEST[algorithm]("|".join(parts).encode()))[:length]


@pytest.mark.parametrize("algorithm", ["xxhash32", "xxhash64"])
@pytest.mark.parametrize("length", [8, 16])
def test_the_reference_scenario_hashes_as_the_recipe(
    tmp_path: Path, algorithm: str, length: int
) -> None:
    f = build_features(hash_length=length)
    store = mxl.LakeStore(tmp_path, hash_algorithm=algorithm)
    store.write(f.video, videos(2))
    (video,) = store.read(f.video).collect().to_polars().filter(sample_uid="video_0001").to_dicts()
    audio, frames = "a-video_0001", "f-video_0001"
    assert video["metaxy_provenance"] == _hash(algorithm, length, audio, frames)

    crop_rows = store.resolve_update(f.crop).new.collect().to_arrow().to_pylist()
    crop = next(r for r in crop_rows if r["sample_uid"] == "video_0001")
    code = "__metaxy_initial__"
    expected = {
        "audio": _hash(algorithm, length, "audio", code, "example/video.audio", audio),
        "frames": _hash(algorithm, length, "frames", code, "example/video.frames", frames),
    }
    assert dict(crop["metaxy_provenance_by_field"]) == expected
    assert crop["metaxy_provenance"] == _hash(
        algorithm, length, expected["audio"], expected["frames"]
    )
    assert dict(crop["metaxy_upstream"]) == {"example/video": video["metaxy_data_version"]}

    store.write(f.crop, compute(f.crop, store.resolve_update(f.crop)))
    (speech,) = [
        r
        for r in store.resolve_update(f.speech_to_text).new.collect().to_arrow().to_pylist()
        if r["sample_uid"] == "video_0001"
    ]
    transcript = _hash(
        algorithm, length, "transcript", code, "example/crop.audio", expected["audio"]
    )
    assert dict(speech["metaxy_provenance_by_field"]) == {"transcript": transcript}


def test_a_table_hashed_otherwise_and_an_unknown_algorithm_are_refused(tmp_path: Path) -> None:
    f = build_features()
    mxl.LakeStore(tmp_path).write(f.video, videos(1))  # md5
    with pytest.raises(mxl.HashSettingsMismatchError, match=r"md5 .* xxhash64"):
        mxl.LakeStore(tmp_path, hash_algorithm="xxhash64").resolve_update(f.crop)
    with pytest.raises(mxl.UnknownHashAlgorithmError, match="xxhash64"):
        mxl.LakeStore(tmp_path, hash_algorithm="xxhash128")


def test_a_session_defines_the_xxhash_functions_only_for_stores_that_use_them(
    tmp_path: Path,
) -> None:
    """Defining a Python function in DuckDB needs numpy: md5 stores never do it."""
    import duckdb

    session = mxl.EngineSession()
    mxl.LakeStore(tmp_path / "md5", engine=session)
    with pytest.raises(duckdb.CatalogException, match="mxl_xxhash64"):
        session.connection.sql("SELECT mxl_xxhash64('a')").fetchall()
    mxl.LakeStore(tmp_path / "xx", engine=session, hash_algorithm="xxhash64")
    mxl.LakeStore(tmp_path / "xx2", engine=session, hash_algorithm="xxhash32")  # once
    value = session.connection.sql("SELECT mxl_xxhash64('a|b')").fetchall()[0][0]
    assert value == str(xxhash.xxh64_intdigest(b"a|b"))
