"""Video → Crop → Faces and SpeechToText, and the Crop ``audio`` code-version bump.

The face detector never runs again: after the bump only Crop and then SpeechToText have
work to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from metaxy_lake.graph.feature import Feature
from metaxy_lake.graph.feature_graph import FeatureGraph
from metaxy_lake.graph.spec import DEFAULT_CODE_VERSION, FeatureSpec, FieldDep, FieldSpec
from metaxy_lake.graph.versioning import DEFAULT_HASH_LENGTH
from metaxy_lake.increment import Increment
from metaxy_lake.schema import CHANGED_FIELDS, PROVENANCE_BY_FIELD
from metaxy_lake.store import LakeStore


@dataclass(frozen=True)
class ScenarioFeatures:
    """The four feature classes of one graph."""

    graph: FeatureGraph
    video: type[Feature]
    crop: type[Feature]
    faces: type[Feature]
    speech_to_text: type[Feature]

    @property
    def all(self) -> tuple[type[Feature], ...]:
        """Every feature, upstream first."""
        return (self.video, self.crop, self.faces, self.speech_to_text)


def build_features(
    crop_audio_version: str = DEFAULT_CODE_VERSION,
    video_audio_version: str = "1",
    hash_length: int = DEFAULT_HASH_LENGTH,
) -> ScenarioFeatures:
    """Define the scenario's features in a fresh graph.

    Args:
        crop_audio_version: Code version of Crop's ``audio`` field (bump it for phase 1).
        video_audio_version: Code version of Video's ``audio`` field (a root field).
        hash_length: The graph's hash length.
    """
    graph = FeatureGraph(hash_length)
    with graph.use():

        class Video(
            Feature,
            spec=FeatureSpec(
                key="example/video",
                id_columns=["sample_uid"],
                fields=["frames", FieldSpec("audio", code_version=video_audio_version)],
            ),
        ):
            path: str

        class Crop(
            Feature,
            spec=FeatureSpec(
                key="example/crop",
                deps=[Video],
                fields=["frames", FieldSpec("audio", code_version=crop_audio_version)],
            ),
        ):
            path: str

        class Faces(
            Feature,
            spec=FeatureSpec(
                key="example/faces",
                deps=[Crop],
                fields=[FieldSpec("faces", deps=[FieldDep(Crop, ["frames"])])],
            ),
        ):
            count: int

        class SpeechToText(
            Feature,
            spec=FeatureSpec(
                key="example/speech_to_text",
                deps=[Crop],
                fields=[FieldSpec("transcript", deps=[FieldDep(Crop, ["audio"])])],
            ),
        ):
            text: str

    return ScenarioFeatures(graph, Video, Crop, Faces, SpeechToText)


@dataclass(frozen=True)
class FeatureStatus:
    """One feature's increment, summarised."""

    feature: str
    new: int
    stale: int
    orphaned: int
    changed_fields: tuple[str, ...]


@dataclass(frozen=True)
class Phase:
    """The state of every feature after one step of the scenario."""

    title: str
    statuses: tuple[FeatureStatus, ...]
    versions_changed: tuple[str, ...] = ()


def videos(count: int) -> pl.DataFrame:
    """Root rows: a path and per-field provenance (standing in for file checksums)."""
    uids = [f"video_{i:04d}" for i in range(count)]
    return pl.DataFrame(
        {
            "sample_uid": uids,
            "path": [f"s3://videos/{u}.mp4" for u in uids],
            PROVENANCE_BY_FIELD: [{"audio": f"a-{u}", "frames": f"f-{u}"} for u in uids],
        }
    )


def compute(feature: type[Feature], increment: Increment) -> pl.DataFrame:
    """Stand in for the expensive step: fill the feature's user columns."""
    rows = pl.concat(
        [increment.new.collect().to_polars(), increment.stale.collect().to_polars()],
        how="diagonal_relaxed",
    )
    fills: dict[str, Any] = {
        "path": pl.col("sample_uid") + ".crop.mp4",
        "count": pl.lit(1),
        "text": pl.lit("hello"),
    }
    wanted = [c for c in feature.model_fields if c in fills]
    return rows.with_columns(**{c: fills[c] for c in wanted})


def _status(store: LakeStore, feature: type[Feature]) -> FeatureStatus:
    increment = store.resolve_update(feature)
    counts = increment.counts()
    stale = increment.stale.collect().to_polars()
    changed = sorted({f for fields in stale[CHANGED_FIELDS].to_list() for f in fields})
    return FeatureStatus(
        str(feature.key()), counts["new"], counts["stale"], counts["orphaned"], tuple(changed)
    )


def _phase(
    store: LakeStore, title: str, features: ScenarioFeatures, changed: tuple[str, ...] = ()
) -> Phase:
    statuses = tuple(_status(store, f) for f in features.all[1:])
    return Phase(title, statuses, changed)


def run(store: LakeStore, samples: int = 5) -> list[Phase]:
    """Run the reference scenario on ``store`` and report every feature after each phase.

    Args:
        store: An empty store.
        samples: Number of videos.
    """
    before = build_features()
    phases: list[Phase] = []
    store.write(before.video, videos(samples))
    phases.append(_phase(store, "videos written: everything downstream is new", before))
    for feature in before.all[1:]:
        store.write(feature, compute(feature, store.resolve_update(feature)))
    phases.append(_phase(store, "Crop, Faces and SpeechToText computed: nothing left", before))

    after = build_features(crop_audio_version="2")
    changed = tuple(
        str(f.key())
        for f, g in zip(before.all, after.all, strict=True)
        if f.feature_version() != g.feature_version()
    )
    phases.append(_phase(store, "phase 1: Crop's audio code version bumped", after, changed))
    store.write(after.crop, compute(after.crop, store.resolve_update(after.crop)))
    phases.append(_phase(store, "phase 2: Crop recomputed", after))
    sst = after.speech_to_text
    store.write(sst, compute(sst, store.resolve_update(sst)))
    phases.append(_phase(store, "phase 3: SpeechToText recomputed: nothing left", after))
    return phases
