"""The floor: the increment of the benchmark graphs as hand-written DuckDB SQL.

It does the work ``resolve_update`` does on the same files (list the files, read them,
keep live rows, hash with the hash recipe (docs/design.md), compare with the leaf, fetch
new, stale and orphaned rows to Arrow), written by hand for one graph, with nothing a
general engine needs: no validation, no filters, no shards, no schema evolution. It
imports nothing from metaxy_lake.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

CODE = "__metaxy_initial__"
"""The default code version of every benchmark field."""
LENGTH = 16
"""The default hash length."""


def live(key: str = "sample_uid") -> str:
    """Keep the latest row of each sample (the caller drops tombstones)."""
    return (
        f"QUALIFY row_number() OVER (PARTITION BY {key} "
        "ORDER BY metaxy_created_at DESC, metaxy_write_id DESC) = 1"
    )


LIVE = live()
TARGET = f"""target AS (
    SELECT sample_uid, metaxy_provenance AS t_prov, metaxy_provenance_by_field AS t_pbf
    FROM {{target}} {LIVE} AND metaxy_deleted_at IS NULL
)"""
"""The leaf's live rows (its sample provenance and provenance by field)."""


def _h(text: str) -> str:
    return f"left(md5({text}), {LENGTH})"


def _increment(
    expected: str,
    fields: list[str],
    prov: str,
    columns: str,
    upstream: str,
    key: str = "sample_uid",
    target: str = TARGET,
) -> str:
    """The leaf's side and the comparison, shared by every graph.

    ``expected`` defines CTEs ending in ``expected`` with a ``p_<field>`` column per field;
    ``target`` defines ``target`` (``key``, ``t_prov``, ``t_pbf``) from the leaf's rows.
    """
    pbf = f"MAP({fields!r}, [{', '.join(f'p_{f}' for f in fields)}])"
    changed = ", ".join(
        f"CASE WHEN p_{f} IS DISTINCT FROM t_pbf['{f}'] THEN '{f}' END" for f in fields
    )
    return f"""
WITH {expected}, {target}, work AS (
    SELECT *, {_h(prov)} AS prov FROM expected FULL JOIN target USING ({key})
), picked AS (
    SELECT *, {pbf} AS pbf,
           CASE WHEN t_prov IS NULL THEN 'new' WHEN prov IS NULL THEN 'orphaned' ELSE 'stale'
           END AS kind
    FROM work WHERE prov IS DISTINCT FROM t_prov
)
SELECT {key}, {columns}pbf AS metaxy_provenance_by_field, prov AS metaxy_provenance,
       pbf AS metaxy_data_version_by_field, prov AS metaxy_data_version,
       {upstream} AS metaxy_upstream, kind,
       CASE WHEN kind = 'stale' THEN list_filter([{changed}], lambda x: x IS NOT NULL)
       END AS metaxy_changed_fields
FROM picked
"""


_CAPTION = _h(
    f"'caption|{CODE}|bench/video.audio|' || dv['audio'] || '|bench/video.frames|' || dv['frames']"
)
SIMPLE = _increment(
    f"""video AS (
    SELECT sample_uid, path, metaxy_data_version_by_field AS dv, metaxy_data_version AS sdv,
           metaxy_deleted_at IS NULL AS live
    FROM {{video}} {LIVE}
), expected AS (
    SELECT sample_uid, path, sdv, {_CAPTION} AS p_caption FROM video WHERE live
)""",
    ["caption"],
    "p_caption",
    "path, ",
    "MAP(['bench/video'], [sdv])",
)

_ROOT_FIELDS = ("audio", "embedding", "frames", "optical_flow")  # sorted
_SUMMARY = _h(
    f"'summary|{CODE}|' || "
    + " || '|' || ".join(
        f"'bench/{side}.{f}|' || {side[0]}dv['{f}']"
        for side in ("left", "right")
        for f in _ROOT_FIELDS
    )
)
_AUDIO = _h(
    f"'audio|{CODE}|bench/left.audio|' || ldv['audio'] || '|bench/right.audio|' || rdv['audio']"
)
WIDE = _increment(
    f"""l AS (
    SELECT sample_uid, left_path, metaxy_data_version_by_field AS ldv,
           metaxy_data_version AS lsdv, metaxy_deleted_at IS NULL AS live
    FROM {{left}} {LIVE}
), r AS (
    SELECT sample_uid, right_path, metaxy_data_version_by_field AS rdv,
           metaxy_data_version AS rsdv, metaxy_deleted_at IS NULL AS live
    FROM {{right}} {LIVE}
), expected AS (
    SELECT sample_uid, left_path, right_path, lsdv, rsdv,
           {_AUDIO} AS p_audio, {_SUMMARY} AS p_summary
    FROM (SELECT * FROM l WHERE live) JOIN (SELECT * FROM r WHERE live) USING (sample_uid)
)""",
    ["audio", "summary"],
    "p_audio || '|' || p_summary",
    "left_path, right_path, ",
    "MAP(['bench/left', 'bench/right'], [lsdv, rsdv])",
)


def _field(name: str, upstream: str, value: str) -> str:
    return _h(f"'{name}|{CODE}|{upstream}.{name}|' || {value}")


def _shared(sql: str) -> str:
    """The value every child of a parent shares, else NULL (the parent is stale)."""
    return f"CASE WHEN count(DISTINCT {sql}) = 1 AND count({sql}) = count(*) THEN min({sql}) END"


_PAIR = ["audio", "frames"]
EXPANSION = _increment(
    f"""video AS (
    SELECT video_id, path, metaxy_data_version_by_field AS dv, metaxy_data_version AS sdv
    FROM {{video}} {live("video_id")} AND metaxy_deleted_at IS NULL
), expected AS (
    SELECT video_id, path, sdv, {_field("audio", "bench/video", "dv['audio']")} AS p_audio,
           {_field("frames", "bench/video", "dv['frames']")} AS p_frames
    FROM video
)""",
    _PAIR,
    "p_audio || '|' || p_frames",
    "path, ",
    "MAP(['bench/video'], [sdv])",
    key="video_id",
    target=f"""clips AS (
    SELECT video_id, metaxy_provenance AS prov, metaxy_provenance_by_field AS pbf
    FROM {{target}} {live("clip_id")} AND metaxy_deleted_at IS NULL
), target AS (
    SELECT video_id, {_shared("prov")} AS t_prov,
           MAP(['audio', 'frames'], [{_shared("pbf['audio']")}, {_shared("pbf['frames']")}])
           AS t_pbf
    FROM clips GROUP BY video_id
)""",
)


def _group(sql: str) -> str:
    return _h(f"string_agg({sql}, '|' ORDER BY clip_id)")


AGGREGATION = _increment(
    f"""clip AS (
    SELECT clip_id, video_id, metaxy_data_version_by_field AS dv, metaxy_data_version AS sdv
    FROM {{clip}} {live("clip_id")} AND metaxy_deleted_at IS NULL
), grouped AS (
    SELECT video_id, {_group("dv['audio']")} AS g_audio, {_group("dv['frames']")} AS g_frames,
           {_group("sdv")} AS sdv
    FROM clip GROUP BY video_id
), expected AS (
    SELECT video_id, sdv, {_field("audio", "bench/clip", "g_audio")} AS p_audio,
           {_field("frames", "bench/clip", "g_frames")} AS p_frames
    FROM grouped
)""",
    _PAIR,
    "p_audio || '|' || p_frames",
    "",
    "MAP(['bench/clip'], [sdv])",
    key="video_id",
    target=TARGET.replace("sample_uid", "video_id").replace(LIVE, live("video_id")),
)


def _last(sql: str) -> str:
    """The value of the latest row of a sample (``arg_max`` skips rows whose value is NULL)."""
    return f"arg_max({sql}, (metaxy_created_at, metaxy_write_id))"


_LATEST_CAPTION = _h(
    f"'caption|{CODE}|bench/video.audio|' || audio || '|bench/video.frames|' || frames"
)
SIMPLE_ARGMAX = f"""
WITH video AS (
    SELECT sample_uid, {_last("metaxy_deleted_at IS NULL")} AS live,
           {_last("metaxy_data_version_by_field['audio']")} AS audio,
           {_last("metaxy_data_version_by_field['frames']")} AS frames,
           {_last("metaxy_data_version")} AS sdv
    FROM {{video}} GROUP BY sample_uid
), target AS (
    SELECT sample_uid, {_last("metaxy_deleted_at IS NULL")} AS t_live,
           {_last("metaxy_provenance")} AS t_prov,
           {_last("metaxy_provenance_by_field['caption']")} AS t_caption
    FROM {{target}} GROUP BY sample_uid
), work AS (
    SELECT sample_uid, sdv, p_caption, {_h("p_caption")} AS prov, t_prov, t_caption,
           coalesce(t_live, false) AS t_live
    FROM (SELECT *, {_LATEST_CAPTION} AS p_caption FROM video WHERE live)
    LEFT JOIN target USING (sample_uid)
), picked AS (
    SELECT *, CASE WHEN t_live THEN 'stale' ELSE 'new' END AS kind
    FROM work WHERE NOT t_live OR prov IS DISTINCT FROM t_prov
)
SELECT sample_uid, MAP(['caption'], [p_caption]) AS metaxy_provenance_by_field,
       prov AS metaxy_provenance, MAP(['caption'], [p_caption]) AS metaxy_data_version_by_field,
       prov AS metaxy_data_version, MAP(['bench/video'], [sdv]) AS metaxy_upstream, kind,
       CASE WHEN kind = 'stale' THEN list_filter(
           [CASE WHEN p_caption IS DISTINCT FROM t_caption THEN 'caption' END],
           lambda x: x IS NOT NULL) END AS metaxy_changed_fields
FROM picked
"""
"""The simple graph's new and stale as the leanest form measured: only the
needed columns, one ``arg_max`` per needed value instead of a window, no orphans."""

QUERIES = {"simple": SIMPLE, "wide": WIDE, "expansion": EXPANSION, "aggregation": AGGREGATION}
LEAN = {"simple": SIMPLE_ARGMAX}
"""The lean floors (``run(..., lean=True)``), where one is written."""
TABLES = {
    "simple": {"video": "bench__video", "target": "bench__caption"},
    "wide": {"left": "bench__left", "right": "bench__right", "target": "bench__fused"},
    "expansion": {"video": "bench__video", "target": "bench__clip"},
    "aggregation": {"clip": "bench__clip", "target": "bench__summary"},
}
EMPTY_TARGET = (
    "(SELECT NULL::VARCHAR AS sample_uid, NULL::VARCHAR AS video_id, "
    "NULL::VARCHAR AS clip_id, NULL::VARCHAR AS metaxy_provenance, "
    "NULL::MAP(VARCHAR, VARCHAR) AS metaxy_provenance_by_field, "
    "NULL::TIMESTAMPTZ AS metaxy_created_at, NULL::VARCHAR AS metaxy_write_id, "
    "NULL::TIMESTAMPTZ AS metaxy_deleted_at WHERE false)"
)


def _source(con: duckdb.DuckDBPyConnection, fmt: str, root: Path, name: str) -> str | None:
    """SQL reading one table's current rows, or None if the table does not exist."""
    uri = root / "features" / name
    if fmt == "delta":
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            files = DeltaTable(str(uri)).file_uris()
        except TableNotFoundError:
            return None
        return f"read_parquet({files!r})"
    if fmt == "iceberg":
        from pyiceberg.catalog import load_catalog
        from pyiceberg.exceptions import NoSuchTableError

        # the store's catalog name: pyiceberg's SQL catalog keeps tables per catalog name
        catalog = load_catalog(
            "metaxy_lake", type="sql", uri=f"sqlite:///{root / '_catalog' / 'iceberg.db'}"
        )
        try:
            table = catalog.load_table(("metaxy", name))
        except NoSuchTableError:
            return None
        return f"read_parquet({[t.file.file_path for t in table.scan().plan_files()]!r})"
    if fmt == "lance":
        import lance

        if not uri.exists():
            return None
        con.register(name, lance.dataset(str(uri)))
        return name
    raise ValueError(f"unknown format {fmt!r}")


def run(graph: str, fmt: str, root: Path, lean: bool = False) -> dict[str, pa.Table]:
    """The increment of ``graph``'s leaf in the store at ``root``: new, stale, orphaned.

    ``lean``: the ``arg_max`` form of ``LEAN`` (no orphans).
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sources = {
        alias: _source(con, fmt, root, name) or EMPTY_TARGET
        for alias, name in TABLES[graph].items()
    }
    sql = LEAN[graph] if lean else QUERIES[graph]
    result = con.sql(sql.format(**sources)).to_arrow_table()
    kinds = result.column("kind")
    return {
        kind: result.filter(pc.equal(kinds, kind)).drop_columns(["kind"])
        for kind in ("new", "stale", "orphaned")
    }
