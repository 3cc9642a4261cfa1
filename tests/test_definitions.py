"""Definition-time errors name the offending keys."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import BaseModel

import metaxy_lake as mxl


def define(key: str, base: type = mxl.Feature, **spec: object) -> type[mxl.Feature]:
    return type(
        key.replace("/", "_"),
        (base,),
        {"__module__": __name__},
        spec=mxl.FeatureSpec(key=key, **spec),
    )  # type: ignore[call-arg]


def test_cycle_is_rejected(graph: mxl.FeatureGraph) -> None:
    with pytest.raises(mxl.CycleError, match="a/b"):
        define("a/b", deps=["a/b"])


def test_unknown_dependency(graph: mxl.FeatureGraph) -> None:
    with pytest.raises(mxl.UnknownDependencyError, match="no/such"):
        define("a", deps=["no/such"])


def test_unknown_upstream_field(graph: mxl.FeatureGraph) -> None:
    up = define("up", fields=["audio"])
    with pytest.raises(mxl.UnknownDependencyError, match="video"):
        define("down", deps=[up], fields=[mxl.FieldSpec("x", deps=[mxl.FieldDep(up, ["video"])])])


def test_field_dep_on_a_feature_that_is_not_a_dep(graph: mxl.FeatureGraph) -> None:
    a = define("a")
    b = define("b")
    with pytest.raises(mxl.UnknownDependencyError, match="a is not a dependency"):
        define("c", deps=[b], fields=[mxl.FieldSpec("x", deps=[mxl.FieldDep(a)])])


def test_duplicate_key(graph: mxl.FeatureGraph) -> None:
    define("a/b")
    with pytest.raises(mxl.DuplicateFeatureError, match="a/b"):
        define("a/b")


@pytest.mark.parametrize("key", ["a//b", "a/_b", "a/b_", "a/b__c", "a/b-c", "", "a/é"])
def test_invalid_key_parts(graph: mxl.FeatureGraph, key: str) -> None:
    with pytest.raises(mxl.InvalidKeyError):
        define(key)


def test_invalid_field_key(graph: mxl.FeatureGraph) -> None:
    with pytest.raises(mxl.InvalidKeyError, match="au dio"):
        define("a", fields=["au dio"])


def test_multi_part_field_keys_are_joined_by_slash(graph: mxl.FeatureGraph) -> None:
    a = define("a", fields=[mxl.FieldSpec(["audio", "left"])])
    assert list(a.field_versions()) == ["audio/left"]


def test_system_column_name_is_rejected(graph: mxl.FeatureGraph) -> None:
    with pytest.raises(mxl.FeatureDefinitionError, match="metaxy_score"):

        class A(mxl.Feature, spec=mxl.FeatureSpec(key="a")):
            metaxy_score: int


def test_empty_fields_is_an_error(graph: mxl.FeatureGraph) -> None:
    with pytest.raises(mxl.FeatureDefinitionError, match="fields=\\[\\]"):
        define("a", fields=[])


def test_dep_without_the_feature_id_columns(graph: mxl.FeatureGraph) -> None:
    up = define("up", id_columns=["video_id"])
    with pytest.raises(mxl.FeatureDefinitionError, match="sample_uid"):
        define("down", deps=[up])


def test_rename_aligns_id_columns(graph: mxl.FeatureGraph) -> None:
    up = define("up", id_columns=["video_id"])
    down = define("down", deps=[mxl.FeatureDep(up, rename={"video_id": "sample_uid"})])
    assert down.key() == mxl.FeatureKey("down")


def test_colliding_upstream_columns(graph: mxl.FeatureGraph) -> None:
    class A(mxl.Feature, spec=mxl.FeatureSpec(key="a")):
        path: str

    class B(mxl.Feature, spec=mxl.FeatureSpec(key="b")):
        path: str

    with pytest.raises(mxl.ColumnCollisionError, match=r"'path'.*rename"):
        define("c", deps=[A, B])
    c = define("c", deps=[A, mxl.FeatureDep(B, rename={"path": "b_path"})])
    assert c.key() == mxl.FeatureKey("c")
    d = define("d", deps=[A, mxl.FeatureDep(B, select=[])])
    assert d.key() == mxl.FeatureKey("d")


def test_unknown_select_and_rename_columns(graph: mxl.FeatureGraph) -> None:
    class A(mxl.Feature, spec=mxl.FeatureSpec(key="a")):
        path: str

    with pytest.raises(mxl.UnknownDependencyError, match="nope"):
        define("b", deps=[mxl.FeatureDep(A, select=["nope"])])
    with pytest.raises(mxl.UnknownDependencyError, match="nope"):
        define("c", deps=[mxl.FeatureDep(A, rename={"nope": "x"})])


def test_unsupported_column_type(graph: mxl.FeatureGraph) -> None:
    with pytest.raises(mxl.UnsupportedColumnTypeError, match="'when'"):

        class A(mxl.Feature, spec=mxl.FeatureSpec(key="a")):
            when: dt.timedelta


def test_supported_column_types_are_accepted(graph: mxl.FeatureGraph) -> None:
    class Box(BaseModel):
        x: float
        label: str | None = None

    class A(mxl.Feature, spec=mxl.FeatureSpec(key="a")):
        s: str
        i: int
        f: float
        b: bool
        raw: bytes
        at: dt.datetime
        day: dt.date
        tags: list[str]
        scores: dict[str, float]
        box: Box
        maybe: int | None = None

    assert A.key() == mxl.FeatureKey("a")


def test_missing_spec(graph: mxl.FeatureGraph) -> None:
    with pytest.raises(mxl.FeatureDefinitionError, match="spec"):

        class A(mxl.Feature):
            pass


def test_features_register_in_the_current_graph() -> None:
    g1, g2 = mxl.FeatureGraph(), mxl.FeatureGraph()
    with g1.use():
        define("same/key")
    with g2.use():
        define("same/key")
    assert "same/key" in g1 and "same/key" in g2
