"""Stores share an engine session: one DuckDB query joins a local store and an S3 store."""

from __future__ import annotations

import uuid

import pytest
from helpers import root_rows
from s3server import READER

import metaxy_lake as mxl


@pytest.fixture
def root_feature(graph: mxl.FeatureGraph) -> type[mxl.Feature]:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        label: str

    return Root


def test_one_query_joins_a_local_and_an_s3_store(tmp_path, s3_server, root_feature, fmt) -> None:
    s3_kwargs = {"format": fmt, "storage_options": s3_server.options(READER)}
    if fmt == "iceberg":
        s3_kwargs["catalog"] = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'cat.db'}"}
    root = f"s3://{s3_server.bucket}/{uuid.uuid4().hex}"
    writer = mxl.LakeStore(root, **{**s3_kwargs, "storage_options": s3_server.options()})
    writer.write(root_feature, root_rows({"s1": {"a": "1"}, "s2": {"a": "2"}}, label=["x", "y"]))

    session = mxl.EngineSession()
    local = mxl.LakeStore(tmp_path / "local", format=fmt, engine=session)
    remote = mxl.LakeStore(root, read_only=True, engine=session, **s3_kwargs)  # other keys
    local.write(root_feature, root_rows({"s2": {"a": "2"}, "s3": {"a": "3"}}, label=["p", "q"]))

    left = local.read(root_feature, columns=["sample_uid", "label"])
    right = remote.read(root_feature, columns=["sample_uid", "label"]).rename({"label": "remote"})
    joined = left.join(right, on="sample_uid", how="inner").collect().to_polars()
    assert joined.rows() == [("s2", "p", "y")]


def test_stores_share_the_process_session_by_default(tmp_path) -> None:
    a, b = mxl.LakeStore(tmp_path / "a"), mxl.LakeStore(tmp_path / "b")
    assert a.engine is b.engine is mxl.EngineSession.shared()
    assert mxl.LakeStore(tmp_path / "c", engine=mxl.EngineSession()).engine is not a.engine
