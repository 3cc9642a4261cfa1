"""Odd input gets a one-line named error before anything is written (issue 38, 8 and 9).

Filter text that does not tokenize, nests too deeply or holds a number no column can
hold; frames with repeated column names; ``as_of`` values out of range; keys ending in a
newline; a read-only Iceberg store at a missing root; provenance values holding ``|``,
which the hash recipe joins values with (docs/on-disk-format.md, section 6).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import narwhals as nw
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from helpers import root_rows, table_state
from hypothesis import example, given
from hypothesis import strategies as st

import metaxy_lake as mxl
from metaxy_lake.engine.relations import narwhals_filter
from metaxy_lake.filters import MAX_NESTING, parse_filter

# --- filter text ------------------------------------------------------------------------

BAD_FILTERS = [
    ("lang = 'x\\'y'", "a quote or comment is not closed"),  # a backslash escapes nothing
    ("lang = 'en", "a quote or comment is not closed"),
    ("n = 1 /* note", "a quote or comment is not closed"),
    ("NOT " * 3000 + "n = 1", "nested too deeply"),
    ("(" * 3000 + "n = 1" + ")" * 3000, "nested too deeply"),
    ("n = " + "- " * 3000 + "1", "nested too deeply"),  # "--" would start a comment
    ("sample_uid = 1e999", "out of range"),
    ("n > -1e999", "out of range"),
    ("n = 1e-999", "out of range"),
    ("n = 99999999999999999999", "out of range"),
    ("n IN (1, -99999999999999999999)", "out of range"),
]


@pytest.mark.parametrize(("text", "named"), BAD_FILTERS, ids=[n for _, n in BAD_FILTERS])
def test_bad_filter_text_is_one_named_line(text: str, named: str) -> None:
    with pytest.raises(mxl.InvalidFilterError) as caught:
        parse_filter(text)
    message = str(caught.value)
    assert named in message and "\n" not in message
    assert len(message) < 400  # a 12,000-character text is quoted in part


def test_nesting_up_to_the_bound_is_accepted() -> None:
    deepest = "NOT " * (MAX_NESTING - 1) + "(n = 1)"
    rows = pl.DataFrame({"n": [1, 2]})
    kept = nw.from_native(rows).filter(parse_filter(deepest)).to_native()
    assert kept["n"].to_list() == ([2] if MAX_NESTING % 2 == 0 else [1])
    with pytest.raises(mxl.InvalidFilterError, match="nested too deeply"):
        parse_filter("NOT " * MAX_NESTING + "(n = 1)")


ROWS = duckdb.sql("SELECT i::BIGINT AS n, 'v' || i AS lang FROM range(10) t(i)")


def sql_ids(text: str) -> list[int]:
    return sorted(r[0] for r in ROWS.filter(text).project("n").fetchall())


@pytest.mark.parametrize(
    "text",
    [
        " AND ".join(["n >= 1"] * 600),  # narwhals recursed once per AND: RecursionError
        " OR ".join(f"n = {i}" for i in range(1, 601)),
        "n IN (" + ", ".join(str(-i) for i in range(1000)) + ")",  # signs in a list nest not
        " AND ".join(["NOT n = 3"] * 500),
    ],
    ids=["600 ANDs", "600 ORs", "1000 negative values", "500 NOTs side by side"],
)
def test_long_flat_filters_select_what_sql_selects(text: str) -> None:
    chosen = narwhals_filter(ROWS, [parse_filter(text)]).project("n").fetchall()
    assert sorted(r[0] for r in chosen) == sql_ids(text)
    assert 0 < len(sql_ids(text)) < 10


def test_like_matches_across_a_newline_as_sql_does() -> None:
    rows = duckdb.sql("SELECT * FROM (VALUES (1, 'a' || chr(10) || 'b'), (2, 'a')) t(n, lang)")
    for text in ("lang LIKE 'a%'", "lang LIKE 'a_b'", "lang LIKE 'a'"):
        chosen = narwhals_filter(rows, [parse_filter(text)]).project("n").fetchall()
        expected = rows.filter(text).project("n").fetchall()
        assert sorted(chosen) == sorted(expected), text


ODD = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            ["n", "lang", "'x'", "'", "\\", '"', "1", "1e999", "-", "(", ")", "NOT", "AND",
             "OR", "IN", "LIKE", "IS", "NULL", "=", "<", ",", ";", "/*", "--", "$$", "::",
             "E'\\x'", "X'00'", "0x", "`", "[", "{", "?", ":x", "\x00", "\n", "é", "%"]
        ),
        max_size=12,
    ).map(" ".join),
)  # fmt: skip


@given(ODD)
def test_odd_filter_text_parses_or_is_refused_by_name(text: str) -> None:
    try:
        parse_filter(text)
    except mxl.InvalidFilterError as exc:
        assert "\n" not in str(exc)


TYPED = pa.table(
    {
        "lang": ["en", "5", None],
        "n": pa.array([1, 5, None], pa.int64()),
        "score": [0.5, None, 1.5],
        "ok": [True, False, None],
        "made": pa.array([dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3)]),
        "m": pa.array([{"a": "b"}, None, {}], pa.map_(pa.string(), pa.string())),
    }
)
TYPES = dict(zip(TYPED.schema.names, TYPED.schema.types, strict=True))

CLASHES = [
    "sample_uid = 5",  # the id is text: DuckDB casts every id to a number, failing on 'v1'
    "lang = 5",
    "lang = true",
    "n = 'x'",
    "made = 5",
    "made > 'soon'",
    "lang = made",
    "m = 'x'",
    "ok = 'x'",
]


@pytest.mark.parametrize("text", CLASHES)
def test_a_comparison_duckdb_would_fail_on_when_reading_rows_is_refused(text: str) -> None:
    rows = duckdb.from_arrow(TYPED.append_column("sample_uid", pa.array(["v1", "v2", "v3"])))
    with pytest.raises(duckdb.ConversionException):  # what happened before: on reading rows
        narwhals_filter(rows, [parse_filter(text)]).fetchall()
    with pytest.raises(mxl.InvalidFilterError, match="like with like"):
        parse_filter(text, {**TYPES, "sample_uid": pa.string()})


@pytest.mark.parametrize(
    "text",
    ["n = '5'", "n < '5.5'", "score < '1'", "made > '2026-01-02'",
     "made > '2026-01-02T00:00:00+00:00'", "ok = 1", "n = true", "lang IN ('en', '5')",
     "n IN (1, 2)", "n < score"],
)  # fmt: skip
def test_comparisons_duckdb_casts_once_are_accepted(text: str) -> None:
    rows = duckdb.from_arrow(TYPED)
    chosen = narwhals_filter(rows, [parse_filter(text, TYPES)]).project("n").fetchall()
    assert sorted(chosen, key=str) == sorted(rows.filter(text).project("n").fetchall(), key=str)


TYPED_ATOMS = st.sampled_from(
    ["lang", "n", "score", "ok", "made", "m", "'x'", "'5'", "'5.5'", "'2026-01-01'", "1", "5.5",
     "-1", "true", "NULL", "=", "<", ">=", "<>", "IN", "(", ")", ",", "NOT", "AND", "OR",
     "LIKE", "'%'", "IS"]
)  # fmt: skip


@given(st.lists(TYPED_ATOMS, min_size=3, max_size=9).map(" ".join))
@example("IN NOT IN ( )")  # found: narwhals' message for an unknown column has two lines
def test_typed_filter_text_never_fails_when_rows_are_read(text: str) -> None:
    rows = duckdb.from_arrow(TYPED)
    try:
        narwhals_filter(rows, [parse_filter(text, TYPES)]).fetchall()
    except mxl.InvalidFilterError as exc:
        assert "\n" not in str(exc)


def test_a_dep_filter_of_clashing_kinds_is_refused_at_definition(
    graph: mxl.FeatureGraph,
) -> None:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        n: int | None = None

    dep = mxl.FeatureDep(feature=Root, filters=["n = 'x'"])
    with pytest.raises(mxl.InvalidFilterError, match="holds a number"):

        class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[dep], fields=["a"])):
            pass


def test_a_dep_filter_that_does_not_tokenize_is_refused_at_definition(
    graph: mxl.FeatureGraph,
) -> None:
    class Root(mxl.Feature, spec=mxl.FeatureSpec(key="root", fields=["a"])):
        lang: str | None = None

    dep = mxl.FeatureDep(feature=Root, filters=["lang = 'x\\'y'"])
    with pytest.raises(mxl.InvalidFilterError, match="not closed"):

        class Leaf(mxl.Feature, spec=mxl.FeatureSpec(key="leaf", deps=[dep], fields=["a"])):
            pass


# --- stores ------------------------------------------------------------------------------


def listing(root: str) -> dict[str, int]:
    """Every file under a local store root with its size (empty when the root is absent)."""
    path = Path(root)
    return {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()}


def unchanged(store: mxl.LakeStore, feature: Any) -> tuple[Any, ...]:
    """What a refused write must leave as it was: the files (local), table and history."""
    files = listing(store.root) if "://" not in store.root else None
    return files, table_state(store, feature), [c.version for c in store.history(feature)]


@pytest.fixture
def features(graph: mxl.FeatureGraph) -> tuple[type[mxl.Feature], type[mxl.Feature]]:
    class Video(mxl.Feature, spec=mxl.FeatureSpec(key="coll/v", fields=["audio", "frames"])):
        n: int | None = None

    class Clip(mxl.Feature, spec=mxl.FeatureSpec(key="coll/clip", deps=[Video], fields=["a"])):
        pass

    return Video, Clip


GOOD = {"audio": "a1", "frames": "f1"}


REPEATED = {
    "pandas": pd.DataFrame(
        [["s2", GOOD, 1, 2]], columns=["sample_uid", "metaxy_provenance_by_field", "n", "n"]
    ),
    "pyarrow": pa.table(
        [pa.array(["s2"]), pa.array([1]), pa.array([2])], names=["sample_uid", "n", "n"]
    ),
    "pandas labels 1 and '1'": pd.DataFrame(
        [["s2", GOOD, 1, 2]], columns=["sample_uid", "metaxy_provenance_by_field", 1, "1"]
    ),
}


@pytest.mark.locations("local")  # refused before any request
@pytest.mark.filterwarnings("ignore:The DataFrame has column names of mixed type")
def test_repeated_column_names_are_refused_naming_them(store: mxl.LakeStore, features: Any) -> None:
    video, _ = features
    store.write(video, root_rows({"s1": GOOD}, n=[1]))
    before = unchanged(store, video)
    for kind, frame in REPEATED.items():
        with pytest.raises(mxl.DuplicateColumnError, match=r"'(n|1)'") as caught:
            store.write(video, frame)
        assert isinstance(caught.value, mxl.InvalidFrameError), kind
        assert "\n" not in str(caught.value), kind
        with pytest.raises(mxl.DuplicateColumnError):
            store.resolve_update(video, samples=frame)
    assert unchanged(store, video) == before


@pytest.mark.locations("local")
def test_a_duckdb_relation_with_repeated_names_is_refused(
    store: mxl.LakeStore, features: Any
) -> None:
    video, _ = features
    store.write(video, root_rows({"s1": GOOD}, n=[1]))
    before = unchanged(store, video)
    relation = duckdb.sql("SELECT 's2' AS sample_uid, 1 AS n, 2 AS n")
    with pytest.raises(mxl.DuplicateColumnError, match="'n'"):
        store.write(video, relation)
    assert unchanged(store, video) == before


BAD_AS_OF = [
    (99999999999999999999, "from 0 to 2\\*\\*63 - 1"),
    (2**63, "from 0 to 2\\*\\*63 - 1"),
    (-1, "from 0 to 2\\*\\*63 - 1"),
    (True, "neither a table version"),
    (1.5, "neither a table version"),
    (dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))), "years 1 to 9999"),
    ("9999-12-31T23:59:59-05:00", "years 1 to 9999"),
    (dt.datetime(2020, 1, 1), "no time zone"),
]


@pytest.mark.locations("local")
def test_as_of_out_of_range_is_a_time_travel_error(store: mxl.LakeStore, features: Any) -> None:
    video, clip = features
    store.write(video, root_rows({"s1": GOOD}, n=[1]))
    for as_of, named in BAD_AS_OF:
        with pytest.raises(mxl.TimeTravelError, match=named):
            store.read(video, as_of=as_of)
        with pytest.raises(mxl.TimeTravelError, match=named):
            store.lineage(clip, [{"sample_uid": "s1"}], as_of=as_of)


def feature(spec: mxl.FeatureSpec) -> Any:
    class Declared(mxl.Feature, spec=spec):
        pass

    return Declared


@pytest.mark.parametrize(
    "make",
    [
        lambda: mxl.FeatureKey("video\n"),
        lambda: mxl.FeatureKey(["coll", "video\n"]),
        lambda: mxl.FieldKey("audio\n"),
        lambda: feature(mxl.FeatureSpec(key="coll/video\n", fields=["a"])),
        lambda: feature(mxl.FeatureSpec(key="coll/video", fields=["a\n"])),
    ],
    ids=["feature key", "feature key part", "field key", "feature class", "field of a class"],
)
def test_a_key_ending_in_a_newline_is_refused(graph: mxl.FeatureGraph, make: Any) -> None:
    with pytest.raises(mxl.InvalidKeyError, match="must be one or more"):
        make()


@pytest.mark.locations("local")
def test_a_read_only_store_at_a_missing_root_creates_nothing(
    make_store: Any, features: Any, tmp_path: Path
) -> None:
    video, clip = features
    root = tmp_path / "absent"
    reader = make_store(root, read_only=True)
    assert reader.read(video).collect().to_polars().height == 0
    assert reader.history(video) == []
    assert reader.resolve_update(clip).counts()["new"] == 0
    assert reader.lineage(clip, [{"sample_uid": "s1"}]).shape[0] == 0
    with pytest.raises(mxl.ReadOnlyStoreError):
        reader.write(video, root_rows({"s1": GOOD}))
    assert not root.exists()  # Iceberg made _catalog/iceberg.db here
    make_store(root).write(video, root_rows({"s1": GOOD}))
    assert reader.read(video).collect().to_polars()["sample_uid"].to_list() == ["s1"]


# --- provenance holding '|' -----------------------------------------------------------------


def test_the_recipe_cannot_tell_such_values_apart() -> None:
    """Why ``|`` is refused: a downstream field's provenance text (docs section 6)."""

    def text(audio: str, frames: str) -> str:
        return f"a|1|coll/v.audio|{audio}|coll/v.frames|{frames}"

    assert text("x|coll/v.frames|y", "z") == text("x", "y|coll/v.frames|z")


AMBIGUOUS = {"audio": "x|coll/v.frames|y", "frames": "z"}


def test_provenance_holding_a_bar_is_refused_before_anything_is_written(
    store: mxl.LakeStore, features: Any
) -> None:
    video, _ = features
    store.write(video, root_rows({"s1": GOOD}))
    before = unchanged(store, video)
    refused = [
        root_rows({"s1": AMBIGUOUS}),
        root_rows({"s2": GOOD, "s3": {"audio": "a", "frames": "|"}}),
        root_rows({"s2": GOOD}).with_columns(
            metaxy_data_version_by_field=pl.Series([{"audio": "c|d"}])
        ),
    ]
    for frame in refused:
        with pytest.raises(mxl.AmbiguousProvenanceError, match=r"containing '\|'.*hash"):
            store.write(video, frame)
    with pytest.raises(mxl.AmbiguousProvenanceError):
        store.resolve_update(video, samples=refused[0])
    assert unchanged(store, video) == before


# --- the CLI -----------------------------------------------------------------------------

TOUR = Path(__file__).resolve().parents[1] / "examples" / "cli_tour"
MXL = [str(Path(sys.executable).parent / "mxl")]  # as tests/test_cli.py runs it


def test_the_cli_says_one_line_and_writes_nothing(tmp_path: Path) -> None:
    shutil.copy(TOUR / "pipeline.py", tmp_path / "pipeline.py")
    subprocess.run([*MXL, "init", "--features", "pipeline"], cwd=tmp_path, check=True)
    before = listing(str(tmp_path))
    cases = [
        (["--where", "sample_uid = 'x\\'y'"], "not closed"),
        (["--where", "sample_uid = 1e999"], "out of range"),
        (["--where", "sample_uid = 5"], "like with like"),
        (["--as-of", "99999999999999999999"], "2**63 - 1"),
    ]
    for args, named in cases:
        done = subprocess.run(
            [*MXL, "read", "example/crop", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1 and done.stdout == "", (args, done.stderr)
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert named in done.stderr and "Traceback" not in done.stderr
    assert listing(str(tmp_path)) == before
