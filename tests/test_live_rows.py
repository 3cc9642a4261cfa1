"""The live-row rule: the latest row by (created_at, write_id) wins.

See docs/on-disk-format.md, section 5.

Serverless bursts make equal ``metaxy_created_at`` real; the clock is injected to force
the tie. Storage-independent (DuckDB picks the row over the scan): local disk only.
"""

from __future__ import annotations

import datetime as dt

import narwhals as nw
import pytest
from helpers import as_dict, root_rows, table_state

import metaxy_lake as mxl
from metaxy_lake.ids import now_utc, use_clock

AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
pytestmark = pytest.mark.locations("local")


@pytest.fixture
def chain(graph: mxl.FeatureGraph):
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        label: str | None = None

    class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[Root], fields=["a"])):
        pass

    return Root, Leaf


def test_a_tie_on_created_at_goes_to_the_greater_write_id(store, chain) -> None:
    root, leaf = chain
    with use_clock(lambda: AT):
        # the greater write id is written first: commit order must not decide
        store.write(root, root_rows({"s1": {"a": "p-b"}}, label=["b"]), write_id="w-b")
        store.write(root, root_rows({"s1": {"a": "p-a"}}, label=["a"]), write_id="w-a")
    history = store.read(root, include_history=True).collect().to_polars()
    assert history["metaxy_created_at"].unique().to_list() == [AT]  # a real tie
    live = store.read(root).collect().to_polars()
    assert live["label"].to_list() == ["b"] and live["metaxy_write_id"].to_list() == ["w-b"]

    new = store.resolve_update(leaf).new.collect().to_polars().row(0, named=True)
    assert as_dict(new["metaxy_upstream"]) == {"root": live["metaxy_data_version"][0]}


def test_a_tie_between_generated_write_ids_goes_to_the_later_write(store, chain) -> None:
    root, _ = chain
    with use_clock(lambda: AT):
        first = store.write(root, root_rows({"s1": {"a": "1"}}, label=["first"]))
        second = store.write(root, root_rows({"s1": {"a": "2"}}, label=["second"]))
    assert second.write_id > first.write_id
    assert store.read(root).collect().to_polars()["label"].to_list() == ["second"]


def test_a_tombstone_in_a_tie_hides_the_sample_only_if_its_write_id_is_greater(
    store, chain
) -> None:
    root, _ = chain
    with use_clock(lambda: AT):
        store.write(root, root_rows({"s1": {"a": "1"}, "s2": {"a": "2"}}), write_id="w-m")
        store.delete(root, nw.col("sample_uid").is_in(["s1", "s2"]))  # a generated id
    live = store.read(root).collect().to_polars()
    deleted = store.read(root, include_deleted=True).collect().to_polars()
    # generated UUIDv7 ids ("0..." hex) sort before "w-m": the data rows stay live
    assert sorted(live["sample_uid"]) == ["s1", "s2"]
    assert deleted.height == 2 and deleted["metaxy_deleted_at"].null_count() == 2


def test_a_clock_returning_naive_datetimes_is_refused_by_name(graph, store) -> None:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        pass

    store.write(Root, root_rows({"s1": {"a": "1"}}))
    before = table_state(store, Root)
    naive = dt.datetime(2026, 1, 1)
    with use_clock(lambda: naive), pytest.raises(mxl.ConfigError, match="aware datetimes"):
        store.write(Root, root_rows({"s2": {"a": "2"}}))
    assert table_state(store, Root) == before
    with use_clock(lambda: dt.datetime(2026, 1, 1)), pytest.raises(ValueError, match="naive"):
        now_utc()  # still a ValueError to callers that caught one
