"""A dev pipeline over a prod store on S3 sends prod nothing but reads.

See docs/design.md, Fallback overlay.

Prod is written on the test SeaweedFS server with the admin identity. The dev chain then
reads it through a recording proxy with an identity the server allows only to read and
list, while the dev pipeline resolves, writes, deletes (soft and hard), compacts, expires
and pushes. Proven on the wire: every request prod received was a GET or HEAD, and prod's
object listing (keys, sizes, ETags) is the same before and after.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import narwhals as nw
from helpers import increment_ids
from recording_proxy import recording_proxy
from s3server import READER, S3Server

import metaxy_lake as mxl
from metaxy_lake.demo.scenario import build_features, compute, videos


def _listing(server: S3Server, prefix: str) -> dict[str, tuple[int, str]]:
    """Every object under ``prefix``: key → (size, ETag), read with the admin identity."""
    import botocore.session

    options = server.options()
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=options["region"],
        aws_access_key_id=options["access_key_id"],
        aws_secret_access_key=options["secret_access_key"],
    )
    out: dict[str, tuple[int, str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=server.bucket, Prefix=prefix
    ):
        for item in page.get("Contents", []):
            out[item["Key"]] = (item["Size"], item["ETag"])
    return out


def test_a_dev_pipeline_sends_its_s3_prod_fallback_only_reads(
    tmp_path: Path, fmt: str, s3_server: S3Server
) -> None:
    prefix = uuid.uuid4().hex
    prod_kwargs: dict[str, Any] = {
        "root": f"s3://{s3_server.bucket}/{prefix}",
        "format": fmt,
        "name": "prod",
    }
    if fmt == "iceberg":
        prod_kwargs["catalog"] = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'prod.db'}"}
    prod = mxl.LakeStore(**prod_kwargs, storage_options=s3_server.options())
    before = build_features()
    prod.write(before.video, videos(12))
    for feature in before.all[1:]:
        prod.write(feature, compute(feature, prod.resolve_update(feature)))
    prod.push_graph(message="prod", git_commit=None, graph=before.graph)
    listing = _listing(s3_server, prefix)
    assert any("example__speech_to_text" in key for key in listing)

    after = build_features(crop_audio_version="2")
    subset = ["video_0003", "video_0007"]
    with recording_proxy(s3_server.endpoint) as (endpoint, recording):
        reader = mxl.LakeStore(
            **prod_kwargs, storage_options={**s3_server.options(READER), "endpoint_url": endpoint}
        )
        dev = mxl.LakeStore(tmp_path / "dev", format=fmt, name="dev", fallback=[reader])

        assert increment_ids(dev.resolve_update(after.faces)) == (set(), set(), set())
        chosen = {after.crop: nw.col("sample_uid").is_in(subset)}
        dev.write(after.crop, compute(after.crop, dev.resolve_update(after.crop, filters=chosen)))
        speech = dev.resolve_update(after.speech_to_text)
        assert increment_ids(speech) == (set(), set(subset), set())
        dev.write(after.speech_to_text, compute(after.speech_to_text, speech))
        assert increment_ids(dev.resolve_update(after.speech_to_text)) == (set(), set(), set())

        dev.delete(after.video, nw.col("sample_uid") == "video_0000")  # a prod-only sample
        dev.delete(after.crop, nw.col("sample_uid") == "video_0003", soft=False)
        dev.compact(after.speech_to_text)
        dev.expire(after.speech_to_text, older_than=dt.timedelta(0))
        dev.push_graph(message="dev", git_commit=None, graph=after.graph)
        assert increment_ids(dev.resolve_update(after.crop)) == (
            set(),
            {f"video_{i:04d}" for i in range(1, 12)} - {"video_0007"},
            {"video_0000"},  # prod's Crop row of the sample deleted in dev
        )

    assert recording.requests, "the chain read prod through the proxy"
    assert recording.mutating() == []
    assert _listing(s3_server, prefix) == listing
    assert all(prod.read(f).collect().to_polars().height == 12 for f in before.all)


def test_the_recording_proxy_records_what_it_forwards(s3_server: S3Server) -> None:
    """The proxy passes mutating requests on and records them: the wire test can fail."""
    import botocore.session

    with recording_proxy(s3_server.endpoint) as (endpoint, recording):
        options = s3_server.options()
        client = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=endpoint,
            region_name=options["region"],
            aws_access_key_id=options["access_key_id"],
            aws_secret_access_key=options["secret_access_key"],
        )
        key = f"proxy-check/{uuid.uuid4().hex}"
        client.put_object(Bucket=s3_server.bucket, Key=key, Body=b"x" * 100)
        assert client.get_object(Bucket=s3_server.bucket, Key=key)["Body"].read() == b"x" * 100
        client.delete_objects(Bucket=s3_server.bucket, Delete={"Objects": [{"Key": key}]})
        client.delete_object(Bucket=s3_server.bucket, Key=key)
    assert ("GET", f"/{s3_server.bucket}/{key}") in recording.requests
    assert {m for m, _ in recording.mutating()} == {"PUT", "POST", "DELETE"}
    assert _listing(s3_server, "proxy-check/") == {}
