"""Fallback chains: the per-sample overlay, pins, read-only fallbacks.

See docs/design.md, Fallback overlay.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import narwhals as nw
import pytest
from helpers import ids, increment_ids, root_rows, table_state

import metaxy_lake as mxl
from metaxy_lake.config import open_store, parse_config
from metaxy_lake.demo.scenario import build_features, compute, videos


def _features(graph: mxl.FeatureGraph) -> type[mxl.Feature]:
    class Root(
        mxl.Feature,
        spec=mxl.FeatureSpec(key="fb/root", id_columns=["sample_uid"], fields=["a"]),
    ):
        pass

    return Root


def _store(tmp_path: Path, name: str, fmt: str, **kwargs: object) -> mxl.LakeStore:
    return mxl.LakeStore(tmp_path / name, format=fmt, name=name, **kwargs)  # type: ignore[arg-type]


def _served(store: mxl.LakeStore, feature: object, **kwargs: object) -> dict[str, str]:
    rows = store.read(feature, with_store=True, **kwargs).collect().to_polars()  # type: ignore[arg-type]
    return dict(zip(rows["sample_uid"], rows["metaxy_store"], strict=True))


def test_each_sample_is_served_by_the_first_store_holding_any_row_of_it(
    tmp_path: Path, graph: mxl.FeatureGraph, fmt: str
) -> None:
    root = _features(graph)
    prod = _store(tmp_path, "prod", fmt)
    prod.write(root, root_rows({"s1": {"a": "p1"}, "s2": {"a": "p2"}, "s3": {"a": "p3"}}))
    dev = _store(tmp_path, "dev", fmt, fallback=[prod])
    assert _served(dev, root) == {"s1": "prod", "s2": "prod", "s3": "prod"}  # no dev table

    dev.write(root, root_rows({"s1": {"a": "d1"}}))
    dev.delete(root, nw.col("sample_uid") == "s2")  # a tombstone in dev hides prod's row
    assert _served(dev, root) == {"s1": "dev", "s3": "prod"}
    rows = dev.read(root).collect().to_polars()
    by_id = {r["sample_uid"]: dict(r["metaxy_provenance_by_field"]) for r in rows.to_dicts()}
    assert {k: v["a"] for k, v in (by_id.items())} == {"s1": "d1", "s3": "p3"}

    # a later prod row of s1 does not show through: dev holds s1
    prod.write(root, root_rows({"s1": {"a": "p1-new"}, "s4": {"a": "p4"}}))
    assert _served(dev, root) == {"s1": "dev", "s3": "prod", "s4": "prod"}
    # a filter applies after the overlay: it never makes prod serve a sample dev holds
    assert _served(dev, root, filters=nw.col("sample_uid") == "s2") == {}
    # prod itself is untouched by dev's writes and deletes
    assert ids(prod.read(root)) == {"s1", "s2", "s3", "s4"}
    assert next(c.store for c in dev.history(root)) == "dev"
    assert {c.store for c in dev.history(root)} == {"dev", "prod"}


def test_an_empty_dev_table_falls_through_to_prod(
    tmp_path: Path, graph: mxl.FeatureGraph, fmt: str
) -> None:
    root = _features(graph)
    prod = _store(tmp_path, "prod", fmt)
    prod.write(root, root_rows({"s1": {"a": "p1"}}))
    dev = _store(tmp_path, "dev", fmt, fallback=[prod])
    dev.write(root, root_rows({"s9": {"a": "d9"}}))
    dev.delete(root, nw.col("sample_uid") == "s9", soft=False)  # dev's table exists, empty
    assert table_state(dev, root) is not None
    assert _served(dev, root) == {"s1": "prod"}


def test_a_hard_delete_in_dev_lets_prod_show_through_again(
    tmp_path: Path, graph: mxl.FeatureGraph
) -> None:
    root = _features(graph)
    prod = _store(tmp_path, "prod", "delta")
    prod.write(root, root_rows({"s1": {"a": "p1"}}))
    dev = _store(tmp_path, "dev", "delta", fallback=[prod])
    dev.write(root, root_rows({"s1": {"a": "d1"}}))
    dev.delete(root, nw.col("sample_uid") == "s1", soft=False)
    assert _served(dev, root) == {"s1": "prod"}


def test_chains_of_three_stores_and_a_pinned_fallback(
    tmp_path: Path, graph: mxl.FeatureGraph
) -> None:
    root = _features(graph)
    archive = _store(tmp_path, "archive", "delta")
    archive.write(root, root_rows({"s1": {"a": "x1"}, "s2": {"a": "x2"}, "s3": {"a": "x3"}}))
    prod = _store(tmp_path, "prod", "iceberg", fallback=[archive])
    prod.write(root, root_rows({"s2": {"a": "p2"}}))
    pin = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    prod.write(root, root_rows({"s3": {"a": "p3"}}))  # after the pin
    dev = _store(tmp_path, "dev", "lance", fallback=[prod.pinned(pin)])
    dev.write(root, root_rows({"s1": {"a": "d1"}}))

    assert dev.fallback == ["prod", "archive"]  # prod's own fallback chains on
    assert _served(dev, root) == {"s1": "dev", "s2": "prod", "s3": "archive"}
    unpinned = _store(tmp_path, "dev", "lance", fallback=[prod])
    assert _served(unpinned, root) == {"s1": "dev", "s2": "prod", "s3": "prod"}
    pinned_prod = [c for c in dev.history(root) if c.store == "prod"]
    all_prod = [c for c in unpinned.history(root) if c.store == "prod"]
    assert len(all_prod) == len(pinned_prod) + 1  # the write after the pin is not listed
    assert all(c.timestamp <= pin for c in pinned_prod)


def test_a_fallback_pinned_before_its_table_existed_contributes_nothing(
    tmp_path: Path, graph: mxl.FeatureGraph, fmt: str
) -> None:
    root = _features(graph)
    prod = _store(tmp_path, "prod", fmt)
    pin = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    prod.write(root, root_rows({"s1": {"a": "p1"}}))
    dev = _store(tmp_path, "dev", fmt, fallback=[prod.pinned(pin)])
    assert _served(dev, root) == {}
    assert increment_ids(dev.resolve_update(root, samples=root_rows({"s1": {"a": "p1"}}))) == (
        {"s1"},
        set(),
        set(),
    )


def test_fallbacks_are_read_only_whatever_the_caller_passed(
    tmp_path: Path, graph: mxl.FeatureGraph
) -> None:
    root = _features(graph)
    prod = _store(tmp_path, "prod", "delta")
    prod.write(root, root_rows({"s1": {"a": "p1"}, "s2": {"a": "p2"}}))
    before = table_state(prod, root)
    dev = _store(tmp_path, "dev", "delta", fallback=[prod])
    dev.delete(root, nw.col("sample_uid") == "s1")
    dev.delete(root, nw.col("sample_uid") == "s2", soft=False)  # dev holds no s2: nothing
    dev.write(root, root_rows({"s3": {"a": "d3"}}))
    dev.compact(root)
    dev.push_graph(git_commit=None)
    assert table_state(prod, root) == before
    assert not (tmp_path / "prod" / "_catalog").exists()
    assert all(link.ctx.read_only for link in dev.context().fallback)
    assert _served(dev, root) == {"s2": "prod", "s3": "dev"}


def test_chain_errors_name_the_stores(tmp_path: Path, graph: mxl.FeatureGraph) -> None:
    prod = mxl.LakeStore(tmp_path / "prod", hash_algorithm="sha256", name="prod")
    with pytest.raises(mxl.StoreConfigError, match="sha256"):
        mxl.LakeStore(tmp_path / "dev", fallback=[prod])
    with pytest.raises(mxl.StoreConfigError, match="itself"):
        mxl.LakeStore(tmp_path / "prod", hash_algorithm="sha256", fallback=[prod])
    with pytest.raises(mxl.StoreConfigError, match="a pin is a time"):
        prod.pinned(3)
    with pytest.raises(mxl.StoreConfigError, match="fallback entries"):
        mxl.LakeStore(tmp_path / "dev", fallback=["prod"])  # type: ignore[list-item]
    chained = mxl.LakeStore(tmp_path / "dev", hash_algorithm="sha256", fallback=[prod])
    with pytest.raises(mxl.TimeTravelError, match="give a time"):
        chained.read(_features(graph), as_of=0)


def test_a_fallback_table_hashed_otherwise_is_refused_naming_both_stores(
    tmp_path: Path, graph: mxl.FeatureGraph
) -> None:
    root = _features(graph)
    prod = _store(tmp_path, "prod", "delta")
    other = mxl.FeatureGraph(hash_length=20)  # hash_length is per graph, so per table
    with other.use():

        class Root(mxl.Feature, spec=mxl.FeatureSpec(key="fb/root", fields=["a"])):
            pass

    prod.write(Root, root_rows({"s1": {"a": "p1"}}))
    _store(tmp_path, "dev", "delta").write(root, root_rows({"s2": {"a": "d2"}}))
    dev = _store(tmp_path, "dev", "delta", fallback=[prod])
    before = table_state(dev, root)
    for call in (
        lambda: dev.read(root).collect(),
        lambda: dev.history(root),
        lambda: dev.resolve_update(root, samples=root_rows({"s1": {"a": "p1"}})),
        lambda: dev.delete(root, nw.col("sample_uid") == "s1"),
    ):
        with pytest.raises(mxl.HashSettingsMismatchError, match=r"fallback .*prod.* of .*dev"):
            call()
    assert table_state(dev, root) == before


def _config(tmp_path: Path, stores: str) -> mxl.ProjectConfig:
    import tomllib

    return parse_config(tomllib.loads(stores), tmp_path / "metaxy_lake.toml")


def test_configured_chains_and_their_errors(tmp_path: Path, graph: mxl.FeatureGraph) -> None:
    config = _config(
        tmp_path,
        """
        [stores.prod]
        root = "prod"
        read_only = true
        [stores.staging]
        root = "staging"
        fallback = ["prod"]
        [stores.dev]
        root = "dev"
        fallback = [{store = "staging", as_of = "2026-11-30T00:00Z"}]
        """,
    )
    dev = open_store("dev", config=config)
    assert dev.name == "dev" and dev.fallback == ["staging", "prod"]
    assert dev.context().fallback[0].pin == dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    for body, message in [
        ('[stores.dev]\nroot = "d"\nfallback = ["nope"]', "unknown store 'nope'"),
        (
            '[stores.a]\nroot = "a"\nfallback = ["b"]\n[stores.b]\nroot = "b"\nfallback = ["a"]',
            "fallback loop: a -> b -> a",
        ),
        (
            '[stores.a]\nroot = "a"\nfallback = ["b"]\n'
            '[stores.b]\nroot = "b"\nhash_algorithm = "sha256"',
            "stores.a uses md5, its fallback stores.b sha256",
        ),
        (
            '[stores.a]\nroot = "a"\nfallback = [{store = "b", as_of = "yesterday"}]\n'
            '[stores.b]\nroot = "b"',
            "no ISO 8601 time",
        ),
    ]:
        with pytest.raises(mxl.ConfigError, match=message):
            _config(tmp_path, body)


def test_the_reference_scenario_through_a_chain(tmp_path: Path) -> None:
    """Crop bumped and recomputed for a subset in dev: only that subset downstream is stale."""
    prod = mxl.LakeStore(tmp_path / "prod", name="prod")
    before = build_features()
    prod.write(before.video, videos(20))
    for feature in before.all[1:]:
        prod.write(feature, compute(feature, prod.resolve_update(feature)))
    prod_state = [table_state(prod, f) for f in before.all]

    after = build_features(crop_audio_version="2")
    dev = mxl.LakeStore(tmp_path / "dev", fallback=[prod], name="dev")
    assert increment_ids(dev.resolve_update(after.faces)) == (set(), set(), set())
    assert len(ids(dev.resolve_update(after.crop).stale)) == 20
    subset = [f"video_{i:04d}" for i in (3, 7)]
    chosen = {after.crop: nw.col("sample_uid").is_in(subset)}
    dev.write(after.crop, compute(after.crop, dev.resolve_update(after.crop, filters=chosen)))

    assert increment_ids(dev.resolve_update(after.speech_to_text)) == (set(), set(subset), set())
    assert increment_ids(dev.resolve_update(after.faces)) == (set(), set(), set())
    assert increment_ids(dev.resolve_update(after.crop, filters=chosen)) == (set(), set(), set())
    assert [table_state(prod, f) for f in before.all] == prod_state
