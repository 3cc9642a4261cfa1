"""``--where`` text → filter expressions: each construct selects what DuckDB's own SQL does.

DuckDB evaluating the same text as a WHERE clause is the independent oracle; the parser
itself never hands the text to a query. Anything outside the grammar is refused, naming it.
"""

from __future__ import annotations

import duckdb
import narwhals as nw
import polars as pl
import pytest

import metaxy_lake as mxl
from metaxy_lake.filters import parse_filter

ROWS = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6],
        "lang": ["en", "fr", None, "en-GB", "e.n", "de"],
        "score": [0.9, 0.2, 0.5, None, -1.0, 0.5],
        "n": [10, 20, 30, 40, None, 60],
        "ok": [True, False, True, None, False, True],
    }
)

ACCEPTED = [
    "lang = 'en'",
    "'en' = lang",
    "lang != 'en'",
    "lang <> 'en'",
    "score > 0.5",
    "0.5 < score",
    "score >= 0.5 AND n <= 30",
    "score < 0 OR n = 60",
    "NOT score < 0.5",
    "NOT (lang = 'en' OR lang = 'fr')",
    "lang IN ('en', 'de')",
    "lang NOT IN ('en', 'de')",
    "n IN (10, 40)",
    "lang IS NULL",
    "score IS NOT NULL",
    "lang LIKE 'en%'",
    "lang LIKE 'e_n'",
    "lang LIKE 'e.n'",
    "lang NOT LIKE '%n%'",
    "ok = true",
    "ok = false OR ok IS NULL",
    "score > -0.5",
    "n > score",
    "(lang = 'en') AND (n < 100)",
]


def duckdb_ids(text: str) -> list[int]:
    frame = ROWS  # noqa: F841 (DuckDB scans the local frame by name)
    return sorted(r[0] for r in duckdb.sql(f"SELECT id FROM frame WHERE {text}").fetchall())


@pytest.mark.parametrize("text", ACCEPTED)
def test_each_construct_selects_what_sql_selects(text: str) -> None:
    chosen = nw.from_native(ROWS).filter(parse_filter(text)).to_native()
    assert sorted(chosen["id"].to_list()) == duckdb_ids(text)


@pytest.mark.parametrize("text", ACCEPTED)
def test_each_case_discriminates(text: str) -> None:
    assert 0 < len(duckdb_ids(text)) < len(ROWS)  # neither nothing nor everything


REFUSED = [
    ("length(lang) > 1", "LENGTH"),
    ("n + 1 > 2", "in place of a column name"),
    ("n = (SELECT 1)", "in place of a literal"),
    ("n IN (SELECT 1)", "IN with a subquery"),
    ("ok", "a bare ok"),
    ("lang = NULL", "IS NULL or IS NOT NULL"),
    ("ok IS TRUE", "IS TRUE"),
    ("t.lang = 'en'", "in place of a column name"),
    ("n = 1; DROP TABLE t", "one condition"),
    ("lang LIKE 3", "not a string"),
    ("lang = ", "does not parse"),
]


@pytest.mark.parametrize(("text", "named"), REFUSED, ids=[t for t, _ in REFUSED])
def test_other_constructs_are_refused_naming_them(text: str, named: str) -> None:
    with pytest.raises(mxl.InvalidFilterError) as caught:
        parse_filter(text)
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)
