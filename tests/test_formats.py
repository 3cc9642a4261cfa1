"""Format behaviours through the store, on every format: time travel, history, compaction,
expiry, configuration; and the same results whatever the format."""

from __future__ import annotations

import datetime as dt
import time

import narwhals as nw
import polars as pl
import pytest
from helpers import ids, root_rows, write_increment

import metaxy_lake as mxl
from metaxy_lake.formats import Capability, known_formats


@pytest.fixture
def features(graph: mxl.FeatureGraph):
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        label: str | None = None

    class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["a"])):
        pass

    return Root, Leaf


def test_read_as_of_version_and_time(store, features) -> None:
    root, _ = features
    first = store.write(root, root_rows({"s1": {"a": "1"}}, label=["v1"]))
    time.sleep(0.05)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    second = store.write(root, root_rows({"s1": {"a": "2"}, "s2": {"a": "2"}}, label=["v2", "x"]))
    store.delete(root, nw.col("sample_uid") == "s2")

    def labels(**kw: object) -> dict[str, str]:
        frame = store.read(root, **kw).collect().to_polars()
        return dict(zip(frame["sample_uid"], frame["label"], strict=True))

    assert labels() == {"s1": "v2"}
    assert first.version is not None and second.version is not None
    assert labels(as_of=first.version) == {"s1": "v1"}
    assert labels(as_of=second.version) == {"s1": "v2", "s2": "x"}
    assert labels(as_of=between) == {"s1": "v1"}
    assert labels(as_of=between.isoformat()) == {"s1": "v1"}


def test_as_of_errors(store, features) -> None:
    root, _ = features
    before = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    store.write(root, root_rows({"s1": {"a": "1"}}))
    with pytest.raises(mxl.TimeTravelError, match="as of"):
        store.read(root, as_of=before)
    with pytest.raises(mxl.TimeTravelError, match="time zone"):
        store.read(root, as_of="2026-01-01T00:00:00")
    with pytest.raises(mxl.TimeTravelError):
        store.read(root, as_of=987654321)


def test_history_lists_every_commit_with_write_ids(store, features) -> None:
    root, _ = features
    results = [store.write(root, root_rows({f"s{i}": {"a": "1"}})) for i in range(3)]
    deleted = store.delete(root, nw.col("sample_uid") == "s0")
    commits = store.history(root)
    ours = [c for c in commits if c.write_id is not None]
    assert [c.write_id for c in ours] == [deleted.write_id] + [
        r.write_id for r in reversed(results)
    ]
    assert [c.version for c in ours] == [deleted.version] + [r.version for r in reversed(results)]
    assert [c.operation for c in ours] == ["delete", "write", "write", "write"]
    assert all(c.rows == 1 for c in ours)
    assert all(c.timestamp.tzinfo is not None for c in commits)
    assert len(store.history(root, limit=2)) == 2


def test_compaction_keeps_rows_and_increments_with_fewer_files(store, features) -> None:
    root, leaf = features
    for i in range(6):
        store.write(root, root_rows({f"s{i}": {"a": str(i)}}, label=[str(i)]))
    write_increment(store, leaf)
    store.write(root, root_rows({"s0": {"a": "changed"}}))
    before_rows = store.read(root, include_history=True).collect().to_polars()
    before_inc = store.resolve_update(leaf).counts()
    table = store.format.open(store.table_ref(root.key()))
    assert table is not None
    files = table.file_count()

    result = store.compact(root)
    assert result.version is not None
    table = store.format.open(store.table_ref(root.key()))
    assert table is not None and table.file_count() < files
    after_rows = store.read(root, include_history=True).collect().to_polars()
    assert after_rows.sort(after_rows.columns[:2]).equals(before_rows.sort(before_rows.columns[:2]))
    assert (
        store.resolve_update(leaf).counts() == before_inc == {"new": 0, "stale": 1, "orphaned": 0}
    )


# pylance 14: a compaction commit has no properties
@pytest.mark.requires(Capability.COMPACTION_METADATA, raises=AssertionError)
def test_compaction_commit_carries_its_write_id(store, features) -> None:
    root, _ = features
    for i in range(3):
        store.write(root, root_rows({f"s{i}": {"a": str(i)}}))
    result = store.compact(root)
    commits = [c for c in store.history(root) if c.write_id == result.write_id]
    assert [c.operation for c in commits] == ["compact"]


def test_expiry_removes_old_versions_but_keeps_the_data(store, features) -> None:
    root, _ = features
    first = store.write(root, root_rows({"s1": {"a": "1"}}))
    store.write(root, root_rows({"s1": {"a": "2"}}))
    store.compact(root)
    time.sleep(1.1)
    assert store.expire(root, older_than=dt.timedelta(0)) > 0
    assert store.read(root).collect().to_polars()["sample_uid"].to_list() == ["s1"]
    assert store.read(root, include_history=True).collect().to_polars().height == 2
    with pytest.raises(mxl.TimeTravelError):
        store.read(root, as_of=first.version).collect()


def test_default_retention_keeps_recent_versions(store, features) -> None:
    root, _ = features
    first = store.write(root, root_rows({"s1": {"a": "1"}}))
    store.write(root, root_rows({"s1": {"a": "2"}}))
    store.expire(root)
    assert ids(store.read(root, as_of=first.version)) == {"s1"}


def test_catalog_options_apply_to_iceberg_only(tmp_path) -> None:
    with pytest.raises(mxl.StoreConfigError, match="iceberg"):
        mxl.LakeStore(tmp_path, format="delta", catalog={"type": "sql"})


def test_iceberg_on_object_storage_needs_a_catalog(graph) -> None:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r")):
        pass

    store = mxl.LakeStore("s3://bucket/prefix", format="iceberg")
    with pytest.raises(mxl.StoreConfigError, match="catalog"):
        store.read(R)


def test_iceberg_takes_any_catalog_and_namespace(tmp_path, graph) -> None:
    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r/x")):
        pass

    catalog = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'elsewhere.db'}"}
    store = mxl.LakeStore(tmp_path / "root", format="iceberg", catalog=catalog, namespace="ml")
    store.write(R, root_rows({"s1": {"default": "p"}}))
    assert (tmp_path / "elsewhere.db").exists()
    assert (tmp_path / "root" / "features" / "r__x").is_dir()
    from pyiceberg.catalog import load_catalog

    assert ("ml", "r__x") in load_catalog("metaxy_lake", **catalog).list_tables("ml")


def test_iceberg_namespace_created_concurrently_is_reused(tmp_path, graph) -> None:
    """Another writer creates the namespace between the SQL catalog's check and its insert."""
    from pyiceberg.catalog import load_catalog
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    class R(mxl.Feature, spec=mxl.FeatureSpec(key="r")):
        pass

    catalog = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'cat.db'}"}
    rival = load_catalog("metaxy_lake", **catalog)
    raced: list[str] = []

    def rival_first(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO iceberg_namespace_properties") and not raced:
            raced.append(statement)
            rival.create_namespace("metaxy")

    event.listen(Engine, "before_cursor_execute", rival_first)
    try:
        store = mxl.LakeStore(tmp_path / "root", format="iceberg", catalog=catalog)
        store.write(R, root_rows({"s1": {"default": "p"}}))
    finally:
        event.remove(Engine, "before_cursor_execute", rival_first)
    assert raced  # the race happened
    assert ids(store.read(R)) == {"s1"}


def test_unknown_format_lists_known_ones(tmp_path) -> None:
    with pytest.raises(mxl.UnknownFormatError) as err:
        mxl.LakeStore(tmp_path, format="hudi")
    for name in known_formats():
        assert name in str(err.value)


PROVENANCE_COLUMNS = [
    "sample_uid",
    "metaxy_provenance_by_field",
    "metaxy_provenance",
    "metaxy_data_version_by_field",
    "metaxy_data_version",
    "metaxy_upstream",
]


def test_every_format_gives_identical_provenance_and_increments(tmp_path, request) -> None:
    from conftest import selected_formats

    formats = selected_formats(request.config)
    results: dict[str, list[object]] = {}
    for fmt in formats:
        g = mxl.FeatureGraph()
        with g.use():

            class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a", "b"])):
                label: str | None = None

            class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root])):
                pass

        store = mxl.LakeStore(tmp_path / fmt, format=fmt)
        trace: list[object] = []

        def snap(
            store: mxl.LakeStore = store,
            trace: list[object] = trace,
            leaf: type = Leaf,
            root: type = Root,
        ) -> None:
            inc = store.resolve_update(leaf)
            for frame in (inc.new, inc.stale):
                trace.append(
                    frame.collect()
                    .to_polars()
                    .select(PROVENANCE_COLUMNS)
                    .sort("sample_uid")
                    .to_dicts()
                )
            trace.append(sorted(ids(inc.orphaned)))
            for feature in (root, leaf):
                trace.append(
                    store.read(feature)
                    .collect()
                    .to_polars()
                    .select(PROVENANCE_COLUMNS)
                    .sort("sample_uid")
                    .to_dicts()
                )

        store.write(Root, root_rows({f"s{i}": {"a": str(i), "b": "b"} for i in range(5)}))
        snap()
        write_increment(store, Leaf)
        store.write(Root, root_rows({"s1": {"a": "x", "b": "b"}}))
        store.delete(Root, nw.col("sample_uid") == "s2")
        snap()
        results[fmt] = trace
    reference = results[formats[0]]
    for fmt in formats[1:]:
        assert results[fmt] == reference, fmt


def test_map_columns_round_trip_through_polars_and_pyarrow(store, features) -> None:
    root, _ = features
    frame = pl.DataFrame(
        {
            "sample_uid": ["s1"],
            "label": ["x"],
            "metaxy_provenance_by_field": [[{"key": "a", "value": "p"}]],
        },
        schema_overrides={
            "metaxy_provenance_by_field": pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
        },
    )
    store.write(
        root,
        frame.with_columns(pl.col("metaxy_provenance_by_field").cast(pl.Map(pl.String, pl.String))),
    )
    arrow = store.read(root).collect().to_arrow()
    assert str(arrow.schema.field("metaxy_provenance_by_field").type) == "map<string, string>"
    assert arrow.column("metaxy_provenance_by_field").to_pylist() == [[("a", "p")]]
    polars = store.read(root).collect().to_polars()
    assert polars.schema["metaxy_provenance_by_field"] == pl.Map(pl.String, pl.String)
