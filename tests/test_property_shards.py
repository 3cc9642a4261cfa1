"""Shards, as a fan-out relies on them (docs/design.md, Scale), on every format.

For random ids (text and integers, one or two id columns), samples already computed or
stale, and shard counts: the shards of an increment are disjoint, their union is the
unsharded increment (new and stale alike), each sample sits in the shard an independent
model says (md5 of the id values as text joined by ``|``, first 15 hex digits, modulo n),
``Increment.shard_counts`` agrees, and a fresh process assigns the same shards.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import metaxy_lake as mxl

IDS = ["video", "frame"]
_KEY = st.one_of(st.text("ab|é1 ", min_size=0, max_size=4), st.integers(-1000, 1000).map(str))


def _features() -> tuple[Any, Any]:
    class Clip(mxl.Feature, spec=mxl.FeatureSpec(key="s/clip", id_columns=IDS, fields=["x"])):
        pass

    class Crop(
        mxl.Feature, spec=mxl.FeatureSpec(key="s/crop", deps=[Clip], id_columns=IDS, fields=["x"])
    ):
        pass

    return Clip, Crop


def model_shard(video: str, frame: int, count: int) -> int:
    text = f"{video}|{frame}"
    return int(hashlib.md5(text.encode()).hexdigest()[:15], 16) % count


def _rows(samples: list[tuple[str, int]], version: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "video": [v for v, _ in samples],
            "frame": [f for _, f in samples],
            # ids may hold '|', provenance values may not (AmbiguousProvenanceError): hex
            "metaxy_provenance_by_field": [
                {"x": f"{v.encode().hex()}-{f}-{version}"} for v, f in samples
            ],
        }
    )


def _by_kind(inc: mxl.Increment) -> dict[str, set[tuple[str, int]]]:
    out = {}
    for kind in ("new", "stale"):
        frame = getattr(inc, kind).collect().to_polars()
        out[kind] = set(zip(frame["video"].to_list(), frame["frame"].to_list(), strict=True))
    return out


samples_strategy = st.lists(
    st.tuples(_KEY, st.integers(0, 50)), min_size=1, max_size=40, unique=True
)


def test_shards_partition_the_increment_on_every_format(fmt: str) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():
        clip, crop = _features()
    seen: list[tuple[str, int]] = []

    @settings(max_examples=examples(10, fmt))
    @given(samples=samples_strategy, data=st.data())
    def check(samples: list[tuple[str, int]], data: st.DataObject) -> None:
        with graph.use(), tempfile.TemporaryDirectory() as root:
            store = mxl.LakeStore(root, format=fmt)
            store.write(clip, _rows(samples, "1"))
            done = data.draw(st.lists(st.sampled_from(samples), unique=True), label="computed")
            if done:
                todo = store.resolve_update(crop).new.collect().to_polars()
                chosen = pl.DataFrame(
                    {"video": [v for v, _ in done], "frame": [f for _, f in done]}
                )
                store.write(crop, todo.join(chosen, on=IDS))
                changed = data.draw(st.lists(st.sampled_from(done), unique=True), label="changed")
                if changed:
                    store.write(clip, _rows(changed, "2"))
            count = data.draw(st.integers(1, 5), label="shards")
            whole = store.resolve_update(crop, checkpoint=False)
            expected = _by_kind(whole)
            parts = [_by_kind(store.resolve_update(crop, shard=(i, count))) for i in range(count)]
            for kind in ("new", "stale"):
                assert set().union(*(p[kind] for p in parts)) == expected[kind]
                assert sum(len(p[kind]) for p in parts) == len(expected[kind])
            for index, part in enumerate(parts):
                for video, frame in part["new"] | part["stale"]:
                    assert model_shard(video, frame, count) == index
            sizes = [len(p["new"]) + len(p["stale"]) for p in parts]
            assert whole.shard_counts(count) == sizes
            seen.extend(samples)

    check()
    # a fresh process puts every sample seen in the same shard of 3
    unique = sorted(set(seen))
    with graph.use(), tempfile.TemporaryDirectory() as root:
        store = mxl.LakeStore(root, format=fmt)
        store.write(clip, _rows(unique, "1"))
        mine = [sorted(_by_kind(store.resolve_update(crop, shard=(i, 3)))["new"]) for i in range(3)]
        assert [[model_shard(v, f, 3) for v, f in part] for part in mine] == [
            [i] * len(part) for i, part in enumerate(mine)
        ]
        script = textwrap.dedent(f"""
            import json
            import metaxy_lake as mxl
            from test_property_shards import _features
            clip, crop = _features()
            store = mxl.LakeStore({root!r}, format={fmt!r})
            parts = []
            for i in range(3):
                new = store.resolve_update(crop, shard=(i, 3), checkpoint=False).new
                frame = new.collect().to_polars()
                parts.append(sorted(zip(frame["video"].to_list(), frame["frame"].to_list())))
            print(json.dumps(parts))
        """)
        here = str(Path(__file__).parent)
        out = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=here,
            env={**os.environ, "PYTHONPATH": here},
        )
    theirs = [[tuple(p) for p in part] for part in json.loads(out.stdout)]
    assert theirs == mine
