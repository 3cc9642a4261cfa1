"""FeatureDep(select=, rename=): what the increment frames carry, names and values.

DuckDB computes the increment over the scan, so one location suffices; every format runs.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from helpers import as_dict, root_rows, table_state, write_increment

import metaxy_lake as mxl

pytestmark = pytest.mark.locations("local")


def video_rows(
    values: dict[str, tuple[str, int, str]], provenance: dict[str, str] | None = None
) -> pl.DataFrame:
    """Video rows: id → (path, fps, lang); provenance per sample (default ``p-<id>``)."""
    provenance = provenance or {}
    return root_rows(
        {uid: {"frames": provenance.get(uid, f"p-{uid}"), "audio": f"a-{uid}"} for uid in values},
        path=[v[0] for v in values.values()],
        fps=[v[1] for v in values.values()],
        lang=[v[2] for v in values.values()],
    )


def by_id(frame: Any, *columns: str, key: str = "sample_uid") -> dict[Any, tuple[Any, ...]]:
    """{id: (column values...)} of a narwhals frame (lazy or eager)."""
    eager = frame.collect() if hasattr(frame, "collect") else frame
    rows = eager.to_polars() if hasattr(eager, "to_polars") else eager
    return {r[key]: tuple(r[c] for c in columns) for r in rows.iter_rows(named=True)}


def columns_of(frame: Any) -> set[str]:
    return set(frame.collect().to_polars().columns)


@pytest.fixture
def video(graph: mxl.FeatureGraph) -> type[mxl.Feature]:
    class Video(mxl.Feature, spec=mxl.FeatureSpec(key="video", fields=["frames", "audio"])):
        path: str
        fps: int
        lang: str

    return Video


def test_select_and_rename_shape_new_and_stale_rows(store, video) -> None:
    class Clip(
        mxl.Feature,
        spec=mxl.FeatureSpec(
            key="clip",
            deps=[
                mxl.FeatureDep(video, rename={"path": "video_path"}, select=["video_path", "fps"])
            ],
            fields=["frames"],
        ),
    ):
        score: float | None = None

    store.write(video, video_rows({"s1": ("v/1.mp4", 24, "en"), "s2": ("v/2.mp4", 30, "fr")}))
    inc = store.resolve_update(Clip)
    cols = columns_of(inc.new)
    assert {"video_path", "fps"} <= cols
    assert not {"path", "lang"} & cols
    assert by_id(inc.new, "video_path", "fps") == {
        "s1": ("v/1.mp4", 24),
        "s2": ("v/2.mp4", 30),
    }
    write_increment(store, Clip, score=0.5)
    assert store.resolve_update(Clip).is_empty

    # s1 changes upstream (new frames provenance, new path and fps): stale, with new values
    store.write(video, video_rows({"s1": ("v/1b.mp4", 25, "de")}, {"s1": "p-s1-v2"}))
    inc = store.resolve_update(Clip)
    assert columns_of(inc.new) >= {"video_path", "fps"} and by_id(inc.new) == {}
    stale = inc.stale.collect().to_polars()
    cols = set(stale.columns)
    assert {"video_path", "fps"} <= cols
    assert not {"path", "lang"} & cols
    assert by_id(stale, "video_path", "fps", "metaxy_changed_fields") == {
        "s1": ("v/1b.mp4", 25, ["frames"])
    }


def test_renamed_id_column_joins_the_right_samples(store, video) -> None:
    class Transcript(mxl.Feature, spec=mxl.FeatureSpec(key="transcript", id_columns=["video_id"])):
        text: str

    class Summary(
        mxl.Feature,
        spec=mxl.FeatureSpec(
            key="summary",
            deps=[
                mxl.FeatureDep(video, select=["path"]),
                mxl.FeatureDep(Transcript, rename={"video_id": "sample_uid"}),
            ],
        ),
    ):
        pass

    store.write(
        video,
        video_rows({"s1": ("v/1", 24, "en"), "s2": ("v/2", 24, "en"), "s3": ("v/3", 24, "en")}),
    )
    store.write(
        Transcript,
        pl.DataFrame(
            {  # s2 and s3 overlap Video; s4 does not; rows in another order than Video's
                "video_id": ["s4", "s3", "s2"],
                "text": ["t4", "t3", "t2"],
                "metaxy_provenance_by_field": [{"default": f"tp-{i}"} for i in (4, 3, 2)],
            }
        ),
    )
    new = store.resolve_update(Summary).new.collect().to_polars()
    assert "video_id" not in new.columns
    assert by_id(new, "path", "text") == {"s2": ("v/2", "t2"), "s3": ("v/3", "t3")}

    transcript_dv = by_id(store.read(Transcript), "metaxy_data_version", key="video_id")
    video_dv = by_id(store.read(video), "metaxy_data_version")
    for row in new.iter_rows(named=True):
        upstream = as_dict(row["metaxy_upstream"])
        uid = row["sample_uid"]
        assert upstream == {"transcript": transcript_dv[uid][0], "video": video_dv[uid][0]}

    write_increment(store, Summary)
    stored = store.read(Summary).collect().to_polars()
    assert sorted(stored["sample_uid"].to_list()) == ["s2", "s3"]
    assert store.resolve_update(Summary).is_empty


def test_colliding_user_columns_and_their_resolution(store, video) -> None:
    class Audio(mxl.Feature, spec=mxl.FeatureSpec(key="audio", fields=["audio"])):
        path: str
        rate: int

    with pytest.raises(mxl.ColumnCollisionError, match=r"'path'.*(rename|select)"):

        class Both(mxl.Feature, spec=mxl.FeatureSpec(key="both", deps=[video, Audio])):
            pass

    with pytest.raises(mxl.ColumnCollisionError, match=r"'path'"):

        class Picked(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="picked", deps=[video, mxl.FeatureDep(Audio, select=["path"])]
            ),
        ):
            pass

    class Renamed(
        mxl.Feature,
        spec=mxl.FeatureSpec(
            key="renamed", deps=[video, mxl.FeatureDep(Audio, rename={"path": "audio_path"})]
        ),
    ):
        pass

    class Selected(
        mxl.Feature,
        spec=mxl.FeatureSpec(key="selected", deps=[video, mxl.FeatureDep(Audio, select=["rate"])]),
    ):
        pass

    store.write(video, video_rows({"s1": ("v/1", 24, "en"), "s2": ("v/2", 30, "fr")}))
    store.write(
        Audio,
        root_rows(
            {"s1": {"audio": "x1"}, "s2": {"audio": "x2"}},
            path=["a/1.wav", "a/2.wav"],
            rate=[16000, 48000],
        ),
    )
    new = store.resolve_update(Renamed).new
    assert by_id(new, "path", "audio_path", "rate") == {
        "s1": ("v/1", "a/1.wav", 16000),
        "s2": ("v/2", "a/2.wav", 48000),
    }
    new = store.resolve_update(Selected).new
    assert "audio_path" not in columns_of(new)
    assert by_id(new, "path", "rate", "fps") == {"s1": ("v/1", 16000, 24), "s2": ("v/2", 48000, 30)}


def test_written_rows_drop_carried_columns_and_keep_declared_ones(store, video) -> None:
    dep = mxl.FeatureDep(video, rename={"path": "video_path"}, select=["video_path", "fps"])

    class Clip(mxl.Feature, spec=mxl.FeatureSpec(key="clip", deps=[dep])):
        score: float

    class Rate(mxl.Feature, spec=mxl.FeatureSpec(key="rate", deps=[dep])):
        score: float
        fps: int  # same name as a carried column: the writer sets it

    store.write(video, video_rows({"s1": ("v/1", 24, "en"), "s2": ("v/2", 30, "fr")}))
    for feature in (Clip, Rate):
        new = store.resolve_update(feature).new.collect().to_polars()
        assert {"video_path", "fps"} <= set(new.columns)
        rows = new.with_columns(score=pl.col("fps") + 0.5)
        if feature is Rate:  # its own fps: the writer's value, not the carried one
            rows = rows.with_columns(fps=pl.col("fps") * 10)
        result = store.write(feature, rows)
        assert result.rows == 2 and result.version is not None

    state = table_state(store, Clip)
    assert state is not None
    names = set(state[1].names)
    assert "score" in names and not {"video_path", "fps", "path", "lang"} & names
    stored = store.read(Clip).collect().to_polars()
    assert not {"video_path", "fps"} & set(stored.columns)
    assert by_id(stored, "score") == {"s1": (24.5,), "s2": (30.5,)}

    state = table_state(store, Rate)
    assert state is not None
    names = set(state[1].names)
    assert {"score", "fps"} <= names and not {"video_path", "path", "lang"} & names
    stored = store.read(Rate).collect().to_polars()
    assert by_id(stored, "fps", "score") == {"s1": (240, 24.5), "s2": (300, 30.5)}

    assert store.resolve_update(Clip).is_empty and store.resolve_update(Rate).is_empty
