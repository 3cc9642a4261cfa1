"""Record hashes (docs/design.md, Hash recipe), recomputed here with hashlib.

Hashes are computed by DuckDB over whatever the scan returns, so where the table lives
cannot change them: these run on local disk only, on every format (S3 reads are covered by
the scenario, format and S3 suites).
"""

from __future__ import annotations

import hashlib

import polars as pl
import pytest

import metaxy_lake as mxl

pytestmark = pytest.mark.locations("local")

INIT = "__metaxy_initial__"


def h(algorithm: str, text: str, length: int = 16) -> str:
    return hashlib.new(algorithm, text.encode()).hexdigest()[:length]


def root_rows(values: dict[str, dict[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sample_uid": list(values),
            "metaxy_provenance_by_field": list(values.values()),
        }
    )


def by_uid(frame: pl.DataFrame) -> dict[str, dict[str, object]]:
    return {r["sample_uid"]: r for r in frame.to_dicts()}


def as_dict(value: object) -> dict[str, str]:
    """Polars gives a map column as a dict or a list of key/value pairs."""
    if isinstance(value, dict):
        return value
    return {e["key"]: e["value"] for e in value}  # type: ignore[attr-defined]


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_root_one_dep_and_two_dep_hashes(make_store, algorithm: str) -> None:
    g = mxl.FeatureGraph(hash_length=16)
    with g.use():

        class A(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="t/a", fields=[mxl.FieldSpec("audio", code_version="1"), "frames"]
            ),
        ):
            pass

        class B(mxl.Feature, spec=mxl.FeatureSpec(key="t/b", fields=["frames"])):
            pass

        class One(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="t/one", deps=[A], fields=[mxl.FieldSpec("audio", code_version="7"), "frames"]
            ),
        ):
            pass

        class Two(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="t/two",
                deps=[One, B],
                fields=[
                    mxl.FieldSpec(
                        "mix",
                        code_version="3",
                        deps=[mxl.FieldDep(B, ["frames"]), mxl.FieldDep(One, ["audio", "frames"])],
                    )
                ],
            ),
        ):
            pass

    store = make_store(hash_algorithm=algorithm)
    store.write(A, root_rows({"s1": {"audio": "a1", "frames": "f1"}}))
    store.write(B, root_rows({"s1": {"frames": "bf1"}}))

    # root: stored as given; sample provenance = hash of the values joined in key order
    a = by_uid(store.read(A).collect().to_polars())["s1"]
    assert as_dict(a["metaxy_provenance_by_field"]) == {"audio": "a1", "frames": "f1"}
    assert a["metaxy_provenance"] == h(algorithm, "a1|f1")
    assert a["metaxy_data_version"] == a["metaxy_provenance"]
    assert as_dict(a["metaxy_upstream"]) == {}

    # one dep
    one = by_uid(store.resolve_update(One).new.collect().to_polars())["s1"]
    audio = h(algorithm, "audio|7|t/a.audio|a1")
    frames = h(algorithm, f"frames|{INIT}|t/a.frames|f1")
    assert as_dict(one["metaxy_provenance_by_field"]) == {"audio": audio, "frames": frames}
    assert one["metaxy_provenance"] == h(algorithm, f"{audio}|{frames}")
    assert as_dict(one["metaxy_data_version_by_field"]) == {"audio": audio, "frames": frames}
    assert one["metaxy_data_version"] == one["metaxy_provenance"]
    assert as_dict(one["metaxy_upstream"]) == {"t/a": a["metaxy_data_version"]}
    store.write(One, store.resolve_update(One).new.collect().to_polars())

    # two deps, explicit field deps sorted by fq key
    two = by_uid(store.resolve_update(Two).new.collect().to_polars())["s1"]
    b_dv = h(algorithm, "bf1")
    mix = h(algorithm, f"mix|3|t/b.frames|bf1|t/one.audio|{audio}|t/one.frames|{frames}")
    assert as_dict(two["metaxy_provenance_by_field"]) == {"mix": mix}
    assert two["metaxy_provenance"] == h(algorithm, mix)
    assert as_dict(two["metaxy_upstream"]) == {"t/one": one["metaxy_data_version"], "t/b": b_dv}

    # written rows keep exactly these values
    store.write(Two, store.resolve_update(Two).new.collect().to_polars())
    stored = by_uid(store.read(Two).collect().to_polars())["s1"]
    assert stored["metaxy_provenance"] == two["metaxy_provenance"]
    assert stored["metaxy_feature_version"] == Two.feature_version()
    assert stored["metaxy_snapshot_version"] == g.snapshot_version()


def test_hash_length_truncates_record_hashes(make_store) -> None:
    g = mxl.FeatureGraph(hash_length=10)
    with g.use():

        class A(mxl.Feature, spec=mxl.FeatureSpec(key="a", fields=["x"])):
            pass

        class B(mxl.Feature, spec=mxl.FeatureSpec(key="b", deps=[A], fields=["x"])):
            pass

    store = make_store()
    store.write(A, root_rows({"s": {"x": "v"}}))
    row = store.resolve_update(B).new.collect().to_polars().row(0, named=True)
    x = h("md5", f"x|{INIT}|a.x|v", 10)
    assert as_dict(row["metaxy_provenance_by_field"]) == {"x": x}
    assert row["metaxy_provenance"] == h("md5", x, 10)


def test_data_version_override_stops_propagation(make_store) -> None:
    g = mxl.FeatureGraph()
    with g.use():

        class V(mxl.Feature, spec=mxl.FeatureSpec(key="v", fields=["audio"])):
            pass

        class C(mxl.Feature, spec=mxl.FeatureSpec(key="c", deps=[V], fields=["audio"])):
            pass

        class S(mxl.Feature, spec=mxl.FeatureSpec(key="s", deps=[C], fields=["audio"])):
            pass

    store = make_store()
    store.write(V, root_rows({"s1": {"audio": "raw-1"}}))
    new = store.resolve_update(C).new.collect().to_polars()
    content = {"audio": "content-hash"}
    store.write(C, new.with_columns(metaxy_data_version_by_field=pl.Series([content])))
    c_row = store.read(C).collect().to_polars().row(0, named=True)
    assert as_dict(c_row["metaxy_data_version_by_field"]) == content
    assert c_row["metaxy_data_version"] == h("md5", "content-hash")
    s_new = store.resolve_update(S).new.collect().to_polars().row(0, named=True)
    assert as_dict(s_new["metaxy_provenance_by_field"]) == {
        "audio": h("md5", f"audio|{INIT}|c.audio|content-hash")
    }
    store.write(S, store.resolve_update(S).new.collect().to_polars())

    # the raw video changes, Crop is recomputed, but its output is identical
    store.write(V, root_rows({"s1": {"audio": "raw-2"}}))
    stale = store.resolve_update(C).stale.collect().to_polars()
    assert stale.height == 1
    store.write(C, stale.with_columns(metaxy_data_version_by_field=pl.Series([content])))
    assert store.resolve_update(C).is_empty
    assert store.resolve_update(S).is_empty  # nothing downstream to do

    # a different output does propagate
    store.write(V, root_rows({"s1": {"audio": "raw-3"}}))
    stale = store.resolve_update(C).stale.collect().to_polars()
    store.write(C, stale.with_columns(metaxy_data_version_by_field=pl.Series([{"audio": "other"}])))
    assert store.resolve_update(S).counts() == {"new": 0, "stale": 1, "orphaned": 0}


def test_partial_override_fills_other_fields_from_provenance(make_store) -> None:
    g = mxl.FeatureGraph()
    with g.use():

        class V(mxl.Feature, spec=mxl.FeatureSpec(key="v", fields=["a", "b"])):
            pass

        class C(mxl.Feature, spec=mxl.FeatureSpec(key="c", deps=[V], fields=["a", "b"])):
            pass

    store = make_store()
    store.write(V, root_rows({"s1": {"a": "1", "b": "2"}}))
    new = store.resolve_update(C).new.collect().to_polars()
    pbf = as_dict(new.row(0, named=True)["metaxy_provenance_by_field"])
    overrides = pl.Series(
        "metaxy_data_version_by_field", [{"b": "B!"}], dtype=pl.Struct({"b": pl.String})
    )
    store.write(C, new.drop("metaxy_data_version_by_field").with_columns(overrides))
    row = store.read(C).collect().to_polars().row(0, named=True)
    assert as_dict(row["metaxy_data_version_by_field"]) == {"a": pbf["a"], "b": "B!"}
    assert row["metaxy_data_version"] == h("md5", f"{pbf['a']}|B!")
    assert row["metaxy_provenance"] == h("md5", f"{pbf['a']}|{pbf['b']}")
