"""The live-row rule: the latest row by (created_at, write_id) wins.

See docs/on-disk-format.md, section 5.

Serverless bursts make equal ``metaxy_created_at`` real; the clock is injected to force
the tie. Storage-independent (DuckDB picks the row over the scan): local disk only.

The audits order rows in Python (``commit_order``); a property checks that it picks the
live row the engine's SQL (``latest``) picks, ties and tombstones included.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import narwhals as nw
import pyarrow as pa
import pytest
from helpers import as_dict, root_rows, table_state
from hypothesis import given
from hypothesis import strategies as st

import metaxy_lake as mxl
from metaxy_lake.engine.relations import commit_order, latest
from metaxy_lake.ids import now_utc, use_clock
from metaxy_lake.schema import CREATED_AT, DELETED_AT, TIMESTAMP, WRITE_ID

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


# few distinct times and short write ids, so that ties on both are frequent
_TIMES = st.sampled_from([AT, AT + dt.timedelta(microseconds=1), AT + dt.timedelta(hours=1)])
_WRITE_IDS = st.text(alphabet="0aF-é", min_size=1, max_size=3)
_HISTORY = st.lists(st.tuples(_TIMES, st.booleans()), min_size=1, max_size=5)


@st.composite
def _histories(draw: st.DrawFn) -> list[dict[str, object]]:
    """Rows of a few samples: write times, write ids (unique in a sample), tombstones."""
    rows: list[dict[str, object]] = []
    for sample in draw(st.lists(st.sampled_from(["s1", "s2", "s3"]), min_size=1, unique=True)):
        history = draw(_HISTORY)
        write_ids = draw(
            st.lists(_WRITE_IDS, min_size=len(history), max_size=len(history), unique=True)
        )
        for (created, tombstone), write_id in zip(history, write_ids, strict=True):
            rows.append(
                {
                    "row": len(rows),
                    "sample_uid": sample,
                    CREATED_AT: created,
                    WRITE_ID: write_id,
                    DELETED_AT: created if tombstone else None,
                }
            )
    return rows


@given(rows=_histories(), include_deleted=st.booleans())
def test_python_commit_order_picks_the_live_row_the_engine_sql_picks(
    rows: list[dict[str, object]], include_deleted: bool
) -> None:
    schema = pa.schema(
        [
            ("row", pa.int64()),
            ("sample_uid", pa.string()),
            (CREATED_AT, TIMESTAMP),
            (WRITE_ID, pa.string()),
            (DELETED_AT, TIMESTAMP),
        ]
    )
    con = duckdb.connect()
    try:
        table = pa.Table.from_pylist(rows, schema=schema)
        picked = latest(con.from_arrow(table), ["sample_uid"], include_deleted)
        engine = sorted(picked.to_arrow_table().column("row").to_pylist())
    finally:
        con.close()
    by_sample: dict[object, list[dict[str, object]]] = {}
    for row in rows:
        by_sample.setdefault(row["sample_uid"], []).append(row)
    newest = [max(history, key=commit_order) for history in by_sample.values()]
    python = sorted(r["row"] for r in newest if include_deleted or r[DELETED_AT] is None)
    assert python == engine
