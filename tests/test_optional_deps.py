"""Optional dependencies: left joins, full outer when every dep is optional, a missing
upstream value hashed as ``''``; explain's ``upstream_new``.

See docs/design.md, Dependency shapes.

Golden values are computed here with ``hashlib`` from the recipe (docs/design.md, Hash recipe).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
from helpers import root_rows, table_state, write_increment

import metaxy_lake as mxl

INITIAL = "__metaxy_initial__"


def _md5(*parts: str) -> str:
    return hashlib.md5("|".join(parts).encode()).hexdigest()[:16]


def _z(a: str, b: str) -> str:
    """Field z's provenance: o/a.x then o/b.y (sorted fq keys), a missing value ''."""
    return _md5("z", INITIAL, "o/a.x", a, "o/b.y", b)


def _graph() -> tuple[Any, Any, Any, Any]:
    graph = mxl.FeatureGraph()
    with graph.use():

        class A(mxl.Feature, spec=mxl.FeatureSpec(key="o/a", fields=["x"])):
            pass

        class B(mxl.Feature, spec=mxl.FeatureSpec(key="o/b", fields=["y"])):
            pass

        z = [mxl.FieldSpec("z", deps=[mxl.FieldDep(A, ["x"]), mxl.FieldDep(B, ["y"])])]

        class C(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="o/c", deps=[mxl.FeatureDep(B, optional=True), mxl.FeatureDep(A)], fields=z
            ),
        ):
            pass

        class D(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="o/d",
                deps=[mxl.FeatureDep(A, optional=True), mxl.FeatureDep(B, optional=True)],
                fields=z,
            ),
        ):
            pass

    return A, B, C, D


def _provenance(frame: Any) -> dict[str, tuple[str, dict[str, str]]]:
    rows = frame.collect().to_polars().to_dicts()
    return {
        r["sample_uid"]: (dict(r["metaxy_provenance_by_field"])["z"], dict(r["metaxy_upstream"]))
        for r in rows
    }


def test_optional_deps_join_and_hash_a_missing_value_as_empty(tmp_path: Path, fmt: str) -> None:
    a, b, c, d = _graph()
    store = mxl.LakeStore(tmp_path / "store", format=fmt)
    store.write(a, root_rows({"s1": {"x": "a1"}, "s2": {"x": "a2"}}))
    store.write(b, root_rows({"s2": {"y": "b2"}, "s3": {"y": "b3"}}))
    b2 = store.read(b).collect().to_polars().filter(pl.col("sample_uid") == "s2")

    required_a = _provenance(store.resolve_update(c).new)  # A required, B optional
    assert {k: v[0] for k, v in required_a.items()} == {"s1": _z("a1", ""), "s2": _z("a2", "b2")}
    assert required_a["s1"][1]["o/b"] == ""
    assert required_a["s2"][1]["o/b"] == b2["metaxy_data_version"][0]
    every_optional = _provenance(store.resolve_update(d).new)  # full outer join
    assert {k: v[0] for k, v in every_optional.items()} == {
        "s1": _z("a1", ""),
        "s2": _z("a2", "b2"),
        "s3": _z("", "b3"),
    }

    write_increment(store, c)
    store.write(b, root_rows({"s1": {"y": "b1"}}))  # B gains a row for s1
    store.delete(b, nw.col("sample_uid") == "s2")  # and loses s2's: not an orphan for C
    inc = store.resolve_update(c)
    stale = _provenance(inc.stale)
    assert {k: v[0] for k, v in stale.items()} == {"s1": _z("a1", "b1"), "s2": _z("a2", "")}
    assert inc.counts()["orphaned"] == 0

    before = table_state(store, c)
    causes = store.explain(c, ["s1", "s2"]).to_arrow().to_pylist()
    found = {
        c["ids"]["sample_uid"]: (c["field"], c["cause"], c["upstream_feature"], c["stored"])
        for c in causes
    }
    assert found == {
        "s1": ("z", "upstream_new", "o/b", ""),
        "s2": ("z", "upstream_deleted", "o/b", "b2"),
    }
    new_row = next(c for c in causes if c["ids"]["sample_uid"] == "s1")
    b_s1 = store.read(b).collect().to_polars().filter(pl.col("sample_uid") == "s1")
    assert new_row["expected"] == "b1"
    assert new_row["upstream_write_id"] == b_s1["metaxy_write_id"][0]
    assert table_state(store, c) == before

    store.delete(a, nw.col("sample_uid") == "s1")  # the required dep: orphaned
    (orphan,) = store.explain(c, ["s1"]).to_arrow().to_pylist()
    assert (orphan["status"], orphan["cause"], orphan["upstream_feature"]) == (
        "orphaned",
        "upstream_deleted",
        "o/a",
    )
