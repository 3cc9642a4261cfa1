"""The tour's features: Video → Crop → Faces and SpeechToText.

Crop's ``audio`` code version comes from ``CROP_AUDIO`` (default ``1``), so the tour can
bump it without editing code.
"""

import os

import metaxy_lake as mxl

CROP_AUDIO = os.environ.get("CROP_AUDIO", "1")


class Video(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="example/video", id_columns=["sample_uid"], fields=["frames", "audio"]
    ),
):
    path: str


class Crop(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="example/crop",
        deps=[Video],
        fields=["frames", mxl.FieldSpec("audio", code_version=CROP_AUDIO)],
    ),
):
    path: str


class Faces(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="example/faces",
        deps=[Crop],
        fields=[mxl.FieldSpec("faces", deps=[mxl.FieldDep(Crop, ["frames"])])],
    ),
):
    count: int


class SpeechToText(
    mxl.Feature,
    spec=mxl.FeatureSpec(
        key="example/speech_to_text",
        deps=[Crop],
        fields=[mxl.FieldSpec("transcript", deps=[mxl.FieldDep(Crop, ["audio"])])],
    ),
):
    text: str


FEATURES = (Video, Crop, Faces, SpeechToText)
