"""Where samples stand across the pipeline (docs/design.md, Sample status).

Per feature: up to date, new, stale, orphaned or absent, with the live row's write time,
write id and store.

Each feature's status is its increment restricted to the samples (``store.asked``), so
the two always agree.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw
import pyarrow as pa

from metaxy_lake.graph import FeatureGraph
from metaxy_lake.schema import CHANGED_FIELDS, CREATED_AT, STORE, TIMESTAMP, WRITE_ID
from metaxy_lake.store.audit.asked import asked_increment
from metaxy_lake.store.audit.kinds import Status
from metaxy_lake.store.audit.rows import as_frame, history_rows, union_fields
from metaxy_lake.store.audit.samples import id_values, sample_records
from metaxy_lake.store.tables.context import StoreContext
from metaxy_lake.types import SampleIds


def sample_status(ctx: StoreContext, ids: SampleIds, graph: FeatureGraph) -> nw.DataFrame[pa.Table]:
    """Every feature's status for the samples (see ``LakeStore.sample_status``).

    A feature whose id columns the samples do not all name is left out.
    """
    con = ctx.engine.cursor()
    records: list[dict[str, Any]] = []
    id_fields: list[pa.Field] = []
    for key in graph.keys:
        definition = graph.get(key)
        columns = definition.id_columns
        given = sample_records(ids, columns)
        if not given or any(c not in r for r in given for c in columns):
            continue
        asked = [{c: r[c] for c in columns} for r in given]
        live = history_rows(ctx, con, definition, ctx.settings(graph), asked, live=True)
        id_fields += [live.keys.schema.field(c) for c in columns]
        rows = {id_values(r, columns): r for r in live.rows}
        status: dict[tuple[Any, ...], tuple[Status, list[str] | None]] = {}
        if not definition.is_root:
            work = asked_increment(ctx, definition, live.keys, live.rows)
            for kind, found_rows in work.by_status():
                for hit in found_rows:
                    status[id_values(hit, columns)] = (kind, hit.get(CHANGED_FIELDS))
        for sample in live.keys.to_pylist():
            found = id_values(sample, columns)
            row = rows.get(found)
            kind, changed = status.get(found, (Status.UP_TO_DATE if row else Status.ABSENT, None))
            records.append(
                {
                    "feature": str(key),
                    "ids": sample,
                    "status": kind,
                    CHANGED_FIELDS: changed,
                    CREATED_AT: row[CREATED_AT] if row else None,
                    WRITE_ID: row[WRITE_ID] if row else None,
                    STORE: row.get(STORE) if row else None,
                }
            )
    fields, _ = union_fields(id_fields)
    schema = pa.schema(
        [
            ("feature", pa.string()),
            ("ids", pa.struct(fields)),
            ("status", pa.string()),
            (CHANGED_FIELDS, pa.list_(pa.string())),
            (CREATED_AT, TIMESTAMP),
            (WRITE_ID, pa.string()),
            (STORE, pa.string()),
        ]
    )
    return as_frame(pa.Table.from_pylist(records, schema=schema))
