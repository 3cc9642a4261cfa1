"""A dependency's ``filters``: SQL-like text on the dep's live rows, after ``rename`` and
before ``select``, inside the increment query; checked at definition.

See docs/design.md, Dependency shapes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import ids, increment_ids, root_rows, write_increment

import metaxy_lake as mxl
from metaxy_lake.filters import parse_filter


def _graph(filters: list[str], **dep: Any) -> tuple[Any, Any]:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Clip(mxl.Feature, spec=mxl.FeatureSpec(key="f/clip", fields=["frames"])):
            status: str
            score: float

        class Caption(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="f/caption", deps=[mxl.FeatureDep(Clip, filters=filters, **dep)]
            ),
        ):
            pass

    return Clip, Caption


def _clips(rows: dict[str, tuple[str, float]]) -> Any:
    return root_rows(
        {uid: {"frames": f"f-{uid}"} for uid in rows},
        status=[s for s, _ in rows.values()],
        score=[x for _, x in rows.values()],
    )


def test_filters_keep_the_dep_rows_they_match(tmp_path: Path, fmt: str) -> None:
    clip, caption = _graph(["status = 'ok' AND s > 0.5"], rename={"score": "s"}, select=[])
    store = mxl.LakeStore(tmp_path / "store", format=fmt)
    store.write(clip, _clips({"c1": ("ok", 0.9), "c2": ("ok", 0.1), "c3": ("bad", 0.9)}))
    increment = store.resolve_update(caption)
    assert increment_ids(increment) == ({"c1"}, set(), set())
    assert "s" not in increment.new.collect_schema().names()  # filtered on, not carried
    write_increment(store, caption)
    # c1 leaves the filter: its caption is orphaned; c2 enters it: new
    store.write(clip, _clips({"c1": ("bad", 0.9), "c2": ("ok", 0.8)}))
    ours = store.resolve_update(caption)
    assert increment_ids(ours) == ({"c2"}, set(), {"c1"})
    # the same as a caller's filter on that dep, where the dep declares none
    plain_clip, plain = _graph([])
    where = parse_filter("status = 'ok' AND score > 0.5")
    theirs = store.resolve_update(plain, filters={plain_clip: where})
    assert increment_ids(theirs) == increment_ids(ours)
    assert ids(theirs.new) == {"c2"}


@pytest.mark.parametrize(
    ("filters", "error", "message"),
    [
        (["status = "], mxl.InvalidFilterError, "does not parse"),
        (["score > (SELECT 1)"], mxl.InvalidFilterError, "is not allowed"),
        (["upper(status) = 'OK'"], mxl.InvalidFilterError, "is not allowed"),
        (["colour = 'red'"], mxl.UnknownDependencyError, r"names unknown column\(s\) \['colour'\]"),
        (["score > 1"], mxl.UnknownDependencyError, r"\['score'\].*after rename"),
    ],
)
def test_a_bad_filter_is_refused_when_the_feature_is_defined(
    filters: list[str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        _graph(filters, rename={"score": "s"})
