"""Fields mappings (docs/design.md, Fields mapping): which upstream fields each field depends on.

Resolved field dependencies are checked at definition time, and the record provenance
against golden values computed here with ``hashlib`` from docs/design.md, Hash recipe.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import root_rows

import metaxy_lake as mxl

INITIAL = "__metaxy_initial__"
UPSTREAM = {"audio": "A", "frames": "F", "voice/french": "V", "x": "X"}


def _md5(*parts: str) -> str:
    return hashlib.md5("|".join(parts).encode()).hexdigest()[:16]


def _field(name: str, taken: list[str]) -> str:
    """A field's provenance from the upstream fields it takes (sorted by fq key)."""
    parts = [name, INITIAL]
    for f in sorted(taken, key=lambda f: f"m/up.{f}".encode()):
        parts += [f"m/up.{f}", UPSTREAM[f]]
    return _md5(*parts)


def _deps(feature: type[mxl.Feature]) -> dict[str, list[str]]:
    definition = feature.__metaxy_graph__.get(feature)  # type: ignore[attr-defined]
    return {str(f.key): [str(k) for _, k in f.deps] for f in definition.fields}


CASES = [
    ("default", mxl.FieldsMapping.default(), ["audio", "french", "y"]),
    ("suffix", mxl.FieldsMapping.default(match_suffix=True), ["audio", "french", "y"]),
    ("exclude", mxl.FieldsMapping.default(exclude_fields=["x", "audio"]), ["audio", "y"]),
    ("specific", mxl.FieldsMapping.specific({"a": {"audio", "frames"}}), ["a", "b"]),
    ("all", mxl.FieldsMapping.all(), ["audio", "y"]),
    ("none", mxl.FieldsMapping.none(), ["audio", "y"]),
]
EXPECTED = {
    "default": {"audio": ["audio"], "french": [*UPSTREAM], "y": [*UPSTREAM]},
    "suffix": {"audio": ["audio"], "french": ["voice/french"], "y": [*UPSTREAM]},
    "exclude": {"audio": ["frames", "voice/french"], "y": ["frames", "voice/french"]},
    "specific": {"a": ["audio", "frames"], "b": []},
    "all": {"audio": [*UPSTREAM], "y": [*UPSTREAM]},
    "none": {"audio": [], "y": []},
}


@pytest.mark.parametrize(("name", "mapping", "fields"), CASES, ids=[c[0] for c in CASES])
def test_each_mapping_resolves_and_hashes_as_the_recipe(
    tmp_path: Path, name: str, mapping: mxl.FieldsMapping, fields: list[str]
) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Up(mxl.Feature, spec=mxl.FeatureSpec(key="m/up", fields=list(UPSTREAM))):
            pass

        class Down(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="m/down",
                deps=[mxl.FeatureDep(Up, fields_mapping=mapping)],
                fields=[*fields, mxl.FieldSpec("explicit", deps=[mxl.FieldDep(Up, ["x"])])],
            ),
        ):
            pass

    expected = {**EXPECTED[name], "explicit": ["x"]}  # an explicit FieldSpec(deps=) wins
    assert _deps(Down) == expected
    store = mxl.LakeStore(tmp_path)
    store.write(Up, root_rows({"s1": UPSTREAM}))
    (row,) = store.resolve_update(Down).new.collect().to_arrow().to_pylist()
    by_field = {f: _field(f, taken) for f, taken in expected.items()}
    assert dict(row["metaxy_provenance_by_field"]) == by_field
    assert row["metaxy_provenance"] == _md5(*(by_field[f] for f in sorted(by_field)))


def test_a_none_mapping_still_restricts_the_samples(tmp_path: Path) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class A(mxl.Feature, spec=mxl.FeatureSpec(key="m/a", fields=["v"])):
            pass

        class B(mxl.Feature, spec=mxl.FeatureSpec(key="m/b", fields=["w"])):
            pass

        class C(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="m/c", deps=[A, mxl.FeatureDep(B, fields_mapping=mxl.FieldsMapping.none())]
            ),
        ):
            pass

    assert _deps(C) == {"default": ["v"]}
    store = mxl.LakeStore(tmp_path)
    store.write(A, root_rows({"s1": {"v": "1"}, "s2": {"v": "2"}}))
    store.write(B, root_rows({"s2": {"w": "9"}}))
    new = store.resolve_update(C).new.collect().to_arrow().to_pylist()
    assert [r["sample_uid"] for r in new] == ["s2"]
    assert dict(new[0]["metaxy_provenance_by_field"]) == {
        "default": _md5("default", INITIAL, "m/a.v", "2")
    }


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"nope": {"audio"}}, r"names field\(s\) \['nope'\], which m/down does not declare"),
        ({"a": {"video"}}, r"names field\(s\) \['video'\], which m/up does not have"),
    ],
)
def test_a_specific_mapping_naming_an_unknown_field_is_refused(
    mapping: dict[str, set[str]], message: str
) -> None:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Up(mxl.Feature, spec=mxl.FeatureSpec(key="m/up", fields=list(UPSTREAM))):
            pass

        with pytest.raises(mxl.UnknownDependencyError, match=message):

            class Down(
                mxl.Feature,
                spec=mxl.FeatureSpec(
                    key="m/down",
                    deps=[mxl.FeatureDep(Up, fields_mapping=mxl.FieldsMapping.specific(mapping))],
                    fields=["a"],
                ),
            ):
                pass

    assert "m/down" not in graph
