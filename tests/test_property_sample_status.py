"""Property: where a sample stands (``sample_status``) agrees with ``resolve_update``.

Random graphs (from the increment property test) get random root samples, a pipeline pass
that writes a random part of each increment, then random code bumps and soft deletes;
for every sample of the pool, each feature's status must be the increment's verdict for
it (new, stale with the same changed fields, orphaned), else up to date when it has a
live row, else absent.
"""

from __future__ import annotations

import tempfile
from typing import Any

import narwhals as nw
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from test_property_increment import GraphModel, build_classes, graph_models, string_map

import metaxy_lake as mxl


def _ids(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[c] for c in columns)


def _root_rows(gm: GraphModel, f: Any, chosen: list[tuple[str, ...]], salt: str) -> pl.DataFrame:
    columns: dict[str, Any] = {c: [ids[i] for ids in chosen] for i, c in enumerate(gm.id_columns)}
    pbf = [{k: f"{salt}{ids}" for k in f.field_keys} for ids in chosen]
    return pl.DataFrame({**columns, "metaxy_provenance_by_field": string_map(pbf)})


def _expected(
    store: mxl.LakeStore, cls: Any, columns: tuple[str, ...], root: bool
) -> dict[Any, Any]:
    """sample → (status, changed fields) from the whole increment and the live rows."""
    out: dict[Any, Any] = {}
    live = store.read(cls).collect().to_arrow().to_pylist()
    for row in live:
        out[_ids(row, columns)] = ("up_to_date", None)
    if not root:
        inc = store.resolve_update(cls)
        for kind in ("new", "stale", "orphaned"):
            for row in getattr(inc, kind).collect().to_arrow().to_pylist():
                out[_ids(row, columns)] = (kind, row.get("metaxy_changed_fields"))
    return out


@settings(max_examples=8)
@given(gm=graph_models(), data=st.data())
def test_sample_status_agrees_with_resolve_update(gm: GraphModel, data: st.DataObject) -> None:
    classes = build_classes(gm)
    pool = gm.id_pool()
    with tempfile.TemporaryDirectory() as tmp:
        store = mxl.LakeStore(tmp, hash_algorithm=gm.algorithm)
        for f, cls in zip(gm.features, classes, strict=True):
            if f.is_root:
                chosen = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
                store.write(cls, _root_rows(gm, f, chosen, data.draw(st.sampled_from("ab"))))
                continue
            inc = store.resolve_update(cls)
            todo = pl.concat(
                [inc.new.collect().to_polars(), inc.stale.collect().to_polars()],
                how="diagonal_relaxed",
            )
            keep = data.draw(st.integers(0, todo.height))
            if keep:
                store.write(cls, todo.head(keep))
        if data.draw(st.booleans(), label="code bump"):
            f = data.draw(st.sampled_from(gm.features))
            f.fields[0].code_version = "bumped"
            f.fields_omitted = False
            classes = build_classes(gm)
        if data.draw(st.booleans(), label="delete"):
            i = data.draw(st.integers(0, len(classes) - 1))
            gone = data.draw(st.sampled_from(pool))
            where = [nw.col(c) == v for c, v in zip(gm.id_columns, gone, strict=True)]
            store.delete(classes[i], where)

        graph = classes[0].__metaxy_graph__
        asked = [dict(zip(gm.id_columns, ids, strict=True)) for ids in pool]
        found = store.sample_status(asked, graph=graph).to_arrow().to_pylist()
        assert len(found) == len(pool) * len(classes)
        for f, cls in zip(gm.features, classes, strict=True):
            expected = _expected(store, cls, gm.id_columns, f.is_root)
            for row in (r for r in found if r["feature"] == f.key):
                ids = _ids(row["ids"], gm.id_columns)
                status, changed = expected.get(ids, ("absent", None))
                assert (row["status"], row["metaxy_changed_fields"]) == (status, changed), (
                    f.key,
                    ids,
                )
