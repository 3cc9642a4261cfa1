"""The benchmark's hand-written floor query and resolve_update find the same rows.

The floor (benchmarks/floor.py) is an independent SQL rendering of the hash recipe for
the two benchmark graphs, so this doubles as a check of the engine against it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import floor
import graphs

from metaxy_lake import LakeStore

COLUMNS = [
    "metaxy_provenance",
    "metaxy_data_version",
    "metaxy_provenance_by_field",
    "metaxy_upstream",
]


def _rows(table: pa.Table, key: str, stale: bool) -> list[dict[str, object]]:
    columns = [key, *COLUMNS, *(["metaxy_changed_fields"] if stale else [])]
    rows = table.select(columns).to_pylist()
    for row in rows:
        for name in ("metaxy_provenance_by_field", "metaxy_upstream"):
            row[name] = sorted(row[name])
    return sorted(rows, key=lambda r: str(r[key]))


@pytest.mark.parametrize("graph", graphs.GRAPHS + graphs.SHAPES)
@pytest.mark.parametrize("phase", ["new", "stale"])
def test_floor_and_resolve_update_agree(tmp_path: Path, graph: str, phase: str, fmt: str) -> None:
    bench = graphs.build(graph)
    store = LakeStore(tmp_path, format=fmt)
    graphs.seed(store, bench, 500, phase)

    ours = store.resolve_update(bench.leaf)
    theirs = floor.run(graph, fmt, tmp_path)

    rows = 500 // bench.spread  # one per sample, per video for an aggregation
    assert ours.counts() == {
        "new": rows if phase == "new" else 0,
        "stale": rows // 10 if phase == "stale" else 0,
        "orphaned": 0,
    }
    key = bench.key
    assert _rows(ours.new.collect().to_arrow(), key, False) == _rows(theirs["new"], key, False)
    stale = _rows(ours.stale.collect().to_arrow(), key, True)
    assert stale == _rows(theirs["stale"], key, True)
    assert theirs["orphaned"].num_rows == 0
