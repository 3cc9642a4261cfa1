"""Property: an increment through a fallback chain equals one over a single store holding
the chain's overlay (each sample's rows copied from the first store holding any of them)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import narwhals as nw
import polars as pl
from helpers import root_rows
from hypothesis import event, given, settings
from hypothesis import strategies as st

import metaxy_lake as mxl
from metaxy_lake.engine.recipe import HashSettings
from metaxy_lake.formats import known_formats
from metaxy_lake.store.resolve import checkpointing
from metaxy_lake.store.tables.contract import table_properties

POOL = [f"s{i}" for i in range(6)]


def _graph(
    code_version: str = "1",
) -> tuple[mxl.FeatureGraph, type[mxl.Feature], type[mxl.Feature]]:
    graph = mxl.FeatureGraph()
    with graph.use():

        class Root(
            mxl.Feature,
            spec=mxl.FeatureSpec(key="pf/root", id_columns=["sample_uid"], fields=["a", "b"]),
        ):
            pass

        class Leaf(
            mxl.Feature,
            spec=mxl.FeatureSpec(
                key="pf/leaf",
                deps=[Root],
                fields=[
                    mxl.FieldSpec("x", code_version=code_version, deps=[mxl.FieldDep(Root, ["a"])])
                ],
            ),
        ):
            pass

    return graph, Root, Leaf


step = st.tuples(
    st.sampled_from(["root", "leaf", "delete"]),
    st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True),
    st.sampled_from(["1", "2"]),
)


def _apply(store: mxl.LakeStore, root: Any, leaf: Any, action: tuple[str, list[str], str]) -> None:
    kind, chosen, value = action
    if kind == "root":
        store.write(root, root_rows({s: {"a": f"a{value}", "b": f"b-{s}"} for s in chosen}))
    elif kind == "leaf":
        inc = store.resolve_update(leaf)
        rows = pl.concat(
            [inc.new.collect().to_polars(), inc.stale.collect().to_polars()],
            how="diagonal_relaxed",
        ).filter(pl.col("sample_uid").is_in(chosen))
        if rows.height:
            store.write(leaf, rows)
    else:
        store.delete(root if value == "1" else leaf, nw.col("sample_uid").is_in(chosen))


def _copy_overlay(roots: list[tuple[Path, str]], single: mxl.LakeStore, feature: Any) -> None:
    """Model of the overlay: each store read alone; a sample's rows from the first holding any."""
    parts, taken = [], set()
    for root, fmt in roots:
        alone = mxl.LakeStore(root, format=fmt).read(feature, include_history=True)
        alone = alone.collect().to_polars()
        held = set(alone["sample_uid"])
        parts.append(alone.filter(~pl.col("sample_uid").is_in(taken)))
        taken |= held
    rows = pl.concat(parts, how="diagonal_relaxed").to_arrow()
    if rows.num_rows == 0:
        return
    definition = feature.__metaxy_graph__.get(feature)
    props = table_properties(definition, HashSettings("md5", feature.__metaxy_graph__.hash_length))
    table = single.format.create(single.table_ref(definition.key), rows.schema, props)
    table.append(rows, {})


def _summary(inc: mxl.Increment) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    for kind in ("new", "stale", "orphaned"):
        frame = getattr(inc, kind).collect().to_polars()
        columns = ["sample_uid", "metaxy_provenance"]
        if kind == "stale":
            columns.append("metaxy_changed_fields")
        out[kind] = sorted(tuple(str(v) for v in row) for row in frame.select(columns).iter_rows())
    return out


@settings(max_examples=12)
@given(
    depth=st.integers(min_value=2, max_value=3),
    actions=st.lists(st.tuples(st.integers(min_value=0, max_value=2), step), max_size=10),
    bumped=st.booleans(),
    formats=st.lists(st.sampled_from(known_formats()), min_size=3, max_size=3),
)
def test_increment_through_a_chain_equals_one_over_the_copied_overlay(
    depth: int,
    actions: list[tuple[int, tuple[str, list[str], str]]],
    bumped: bool,
    formats: list[str],
) -> None:
    """Each store of the chain in a format of its own: one overlay serves every format."""
    _, root, leaf = _graph()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        stores: list[mxl.LakeStore] = []
        for index in reversed(range(depth)):  # store 0 is the primary, the last the deepest
            fallback = [stores[-1]] if stores else []
            stores.append(
                mxl.LakeStore(
                    base / f"s{index}", format=formats[index], fallback=fallback, name=f"s{index}"
                )
            )
        stores.reverse()
        for index, action in actions:  # in any order: a fallback may be written after dev
            _apply(stores[index % depth], root, leaf, action)
        chain = stores[0]
        single = mxl.LakeStore(base / "single")
        for feature in (root, leaf):
            _copy_overlay([(base / f"s{i}", formats[i]) for i in range(depth)], single, feature)
        if bumped:  # a code change: the leaf's field x moves to a new version
            _, root, leaf = _graph(code_version="2")
        samples = root_rows({s: {"a": "a1", "b": f"b-{s}"} for s in POOL[:4]})
        # from the primary's checkpoint where one is usable (any share of candidates)
        with mock.patch.object(checkpointing, "CANDIDATE_FRACTION", math.inf):
            through = chain.resolve_update(leaf)
        event(f"the chain resolved on the {through.path} path")
        assert _summary(through) == _summary(single.resolve_update(leaf))
        assert _summary(through) == _summary(chain.resolve_update(leaf, checkpoint=False))
        assert _summary(chain.resolve_update(root, samples=samples)) == _summary(
            single.resolve_update(root, samples=samples)
        )
