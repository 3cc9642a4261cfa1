"""SQL-like filter text as narwhals expressions: ``"status = 'ok' AND score > 0.5"``.

The text is parsed by sqlglot into a syntax tree, and the tree is turned into a narwhals
expression; the text itself never reaches a query. Allowed: column references, literals
(strings, numbers, booleans), comparisons (``= != <> < <= > >=``), ``AND``/``OR``/``NOT``,
``IN`` (a list of literals), ``IS [NOT] NULL``, ``LIKE`` (``%`` and ``_``) and
parentheses. Anything else is an ``InvalidFilterError`` naming the construct, and so is
text nested more than ``MAX_NESTING`` deep, a number no column can hold (``1e999``), and,
where column types are given, a comparison of clashing kinds (text with a number).

Example:
    >>> expr = parse_filter("lang IN ('en', 'fr') AND NOT score < 0.5")
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import narwhals as nw
import pyarrow as pa
import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError

from metaxy_lake.errors import InvalidFilterError

ALLOWED = "comparisons, AND/OR/NOT, IN, IS [NOT] NULL, LIKE, column names and literals"

_COMPARISONS: dict[type[exp.Expression], Callable[[Any, Any], Any]] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
}
# Deeper text is refused before sqlglot sees it: its parser recurses about 20 frames per
# parenthesis and 10 per NOT (measured: 50 parentheses or 100 NOTs exhaust Python's default
# recursion limit of 1000), so the bound leaves room for the caller's own stack.
MAX_NESTING = 20
_NESTS = {TokenType.NOT, TokenType.DASH, TokenType.PLUS}  # each nests what follows it
_ENDS_NESTING = {TokenType.AND, TokenType.OR, TokenType.COMMA}
# Integer columns are at most 64 bits, so a literal outside both signed and unsigned 64-bit
# ranges can never compare meaningfully (DuckDB fails on it only when rows are scanned).
_INTEGERS = range(-(2**63), 2**64)
_MIRRORED: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
}


def parse_filter(text: str, types: Mapping[str, pa.DataType] | None = None) -> nw.Expr:
    """Parse SQL-like filter text into a narwhals boolean expression.

    Args:
        text: The filter text.
        types: Column types, where known. A column compared with a value of another kind
            that DuckDB converts row by row (text with a number or a boolean) is refused
            here, rather than failing when rows are scanned.

    Raises:
        InvalidFilterError: The text does not parse, or uses a construct that is not
            allowed (the message names it), or compares values of clashing kinds.
    """
    return parse_filter_columns(text, types)[0]


def parse_filter_columns(
    text: str, types: Mapping[str, pa.DataType] | None = None
) -> tuple[nw.Expr, set[str]]:
    """``parse_filter``'s expression, and the column names the text refers to.

    Raises:
        InvalidFilterError: As ``parse_filter``.
    """
    tree = _parse(text)
    expr = _condition(tree, text)
    _check_kinds(tree, text, types or {})
    return expr, {column.name for column in tree.find_all(exp.Column)}


def _parse(text: str) -> exp.Expression:
    dialect = sqlglot.Dialect.get_or_raise("duckdb")
    try:
        tokens = dialect.tokenize(text)
    except TokenError as exc:
        raise InvalidFilterError(
            f"filter {_shown(text)} does not parse: a quote or comment is not closed (inside a "
            "string, write a quote twice: 'it''s')"
        ) from exc
    _check_nesting(tokens, text)
    try:
        statements = dialect.parser().parse(tokens, text)
    except ParseError as exc:
        where = exc.errors[0] if exc.errors else {}
        what = where.get("description") or "invalid syntax"
        column = f" at column {where['col']}" if "col" in where else ""
        raise InvalidFilterError(f"filter {_shown(text)} does not parse{column}: {what}") from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Expression):
        raise InvalidFilterError(
            f"filter {_shown(text)} must be one condition, not several statements"
        )
    return statements[0]


def _shown(text: str) -> str:
    """The filter text as quoted in a message: cut after 120 characters."""
    return repr(text) if len(text) <= 120 else f"{text[:120]!r}... ({len(text)} characters)"


def _check_nesting(tokens: Sequence[Token], text: str) -> None:
    """Refuse text nested deeper than ``MAX_NESTING`` (parentheses, NOT, unary signs)."""
    depth, outer = 0, [0]  # outer[-1]: the depth at which the innermost parenthesis opened
    for token in tokens:
        kind = token.token_type
        if kind in _NESTS:
            depth += 1
        elif kind is TokenType.L_PAREN:
            depth += 1
            outer.append(depth)
        elif kind is TokenType.R_PAREN and len(outer) > 1:
            depth = outer.pop() - 1
        elif kind in _ENDS_NESTING:  # a NOT or sign ends at the next AND, OR or comma
            depth = outer[-1]
        if depth > MAX_NESTING:
            raise InvalidFilterError(
                f"filter {_shown(text)} is nested too deeply (more than {MAX_NESTING} levels of "
                "parentheses, NOT and signs): simplify it"
            )


def _sql(node: exp.Expression) -> str:
    """A node as SQL text for a message, or the construct's name.

    sqlglot's generator fails on some odd trees (e.g. a minus before an escape string).
    """
    try:
        return node.sql(dialect="duckdb", unsupported_level=ErrorLevel.IGNORE) or node.key.upper()
    except Exception:  # only the message's wording depends on it
        return node.key.upper()


def _refuse(node: exp.Expression, text: str, what: str | None = None) -> InvalidFilterError:
    name = what or f"{node.key.upper()} ({_sql(node)})"
    return InvalidFilterError(f"filter {_shown(text)}: {name} is not allowed (allowed: {ALLOWED})")


def _condition(node: exp.Expression, text: str) -> nw.Expr:
    if node.args.get("negate"):  # sqlglot spells ``a NOT LIKE b`` as Like(negate=True)
        positive = node.copy()
        positive.set("negate", False)
        return ~_condition(positive, text)
    if isinstance(node, exp.Paren):
        return _condition(node.this, text)
    if isinstance(node, exp.And | exp.Or):  # a long chain is one flat list, not recursion
        parts = [_condition(cast(exp.Expression, part), text) for part in node.flatten()]
        return _balanced(operator.and_ if isinstance(node, exp.And) else operator.or_, parts)
    if isinstance(node, exp.Not):
        return ~_condition(node.this, text)
    if type(node) in _COMPARISONS:
        return _comparison(node, text)
    if isinstance(node, exp.In):
        if node.args.get("query") is not None or node.args.get("unnest") is not None:
            raise _refuse(node, text, "IN with a subquery")
        values = [_literal(v, text) for v in node.expressions]
        return _column(node.this, text).is_in(values)
    if isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            raise _refuse(node, text, f"IS {_sql(node.expression)}")
        return _column(node.this, text).is_null()
    if isinstance(node, exp.Like):
        pattern = _literal(node.expression, text)
        if not isinstance(pattern, str):
            raise _refuse(node, text, "LIKE with a pattern that is not a string")
        return _column(node.this, text).str.contains(like_to_regex(pattern))
    if isinstance(node, exp.Column | exp.Boolean):
        raise _refuse(node, text, f"a bare {_sql(node)} (compare it with a value)")
    raise _refuse(node, text)


def _balanced(combine: Callable[[Any, Any], Any], parts: list[nw.Expr]) -> nw.Expr:
    """Combine pairwise, so that the expression is log2(n) deep.

    narwhals recurses on it: a chain of 500 ANDs combined one by one exhausts Python's
    default recursion limit.
    """
    while len(parts) > 1:
        pairs = zip(parts[::2], parts[1::2], strict=False)
        parts = [combine(a, b) for a, b in pairs] + parts[len(parts) - len(parts) % 2 :]
    return parts[0]


def _comparison(node: exp.Expression, text: str) -> nw.Expr:
    left, right = node.this, node.expression
    if isinstance(left, exp.Null) or isinstance(right, exp.Null):
        raise _refuse(node, text, "a comparison with NULL (use IS NULL or IS NOT NULL)")
    kind = type(node)
    if not isinstance(left, exp.Column) and isinstance(right, exp.Column):
        left, right, kind = right, left, _MIRRORED[kind]
    compare = _COMPARISONS[kind]
    if isinstance(right, exp.Column):
        result: nw.Expr = compare(_column(left, text), _column(right, text))
    else:
        result = compare(_column(left, text), _literal(right, text))
    return result


def _column(node: exp.Expression, text: str) -> nw.Expr:
    if isinstance(node, exp.Paren):
        return _column(node.this, text)
    if not isinstance(node, exp.Column) or node.table:
        raise _refuse(node, text, f"{_sql(node)} in place of a column name")
    return nw.col(node.name)


def _literal(node: exp.Expression, text: str) -> Any:
    if isinstance(node, exp.Paren):
        return _literal(node.this, text)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_number:
        return -_literal(node.this, text)
    if isinstance(node, exp.Boolean):
        return node.this is True
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        return _number(node.this, text)
    raise _refuse(node, text, f"{_sql(node)} in place of a literal value")


def _number(digits: str, text: str) -> int | float:
    """A number literal's value; refused when no column value could equal it."""
    if not any(c in digits for c in ".eE"):
        whole = int(digits)
        if whole not in _INTEGERS:
            raise InvalidFilterError(
                f"filter {_shown(text)}: the number {digits} is out of range (integers must fit "
                "in 64 bits)"
            )
        return whole
    value = float(digits)
    mantissa = re.split("[eE]", digits)[0]
    if not math.isfinite(value) or (value == 0 and mantissa.strip("0.")):
        raise InvalidFilterError(
            f"filter {_shown(text)}: the number {digits} is out of range (a float must be finite "
            "and nonzero numbers must not round to 0)"
        )
    return value


def _check_kinds(tree: exp.Expression, text: str, types: Mapping[str, pa.DataType]) -> None:
    """Refuse a comparison DuckDB would convert row by row and fail on when rows are read.

    DuckDB compares ``text_column = 5`` by casting every value of the column to a number
    (and ``number_column = 'x'`` by casting the text): the query is planned, and fails
    with a conversion error only once rows are scanned (measured, DuckDB 2.0).
    """
    for node in tree.find_all(*_COMPARISONS, exp.In):
        sides = [node.this, *(node.expressions if isinstance(node, exp.In) else [node.expression])]
        sides = [side.unnest() for side in sides]
        for column in sides:
            type_ = types.get(column.name) if isinstance(column, exp.Column) else None
            if type_ is not None:
                for other in sides:
                    if other is not column:
                        _check_pair(column.name, type_, other, types, text)


_KINDS = {"text": "text", "number": "a number", "boolean": "a boolean", "time": "a time"}
_MIXABLE = {("number", "boolean"), ("boolean", "number")}  # DuckDB casts these types


def _kind(type_: pa.DataType) -> str:
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return "text"
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return "number"
    if pa.types.is_timestamp(type_) or pa.types.is_date(type_):
        return "time"
    return "boolean" if pa.types.is_boolean(type_) else str(type_)  # e.g. a map: no literal


def _check_pair(
    name: str,
    type_: pa.DataType,
    other: exp.Expression,
    types: Mapping[str, pa.DataType],
    text: str,
) -> None:
    """Refuse column ``name`` compared with ``other`` when DuckDB would convert row by row."""
    kind = _kind(type_)
    if isinstance(other, exp.Column):
        if other.name not in types:
            return
        found, what = _kind(types[other.name]), f"column {other.name!r}"
    elif isinstance(other, exp.Boolean):
        found, what = "boolean", _sql(other)
    elif isinstance(other, exp.Literal | exp.Neg):
        value = _literal(other, text)
        if isinstance(value, str) and _converts(value, type_):
            return  # DuckDB casts the text once, e.g. n = '5' or at > '2026-01-01'
        found, what = ("text", repr(value)) if isinstance(value, str) else ("number", str(value))
    else:
        return
    if kind == found or (kind, found) in _MIXABLE:
        return
    hint = " (a time is ISO 8601 text)" if kind == "time" else ""
    raise InvalidFilterError(
        f"filter {_shown(text)}: column {name!r} holds {_named(kind)} and {what} is "
        f"{_named(found)}{hint}; DuckDB would fail on reading the rows: compare like with like"
    )


def _named(kind: str) -> str:
    return _KINDS.get(kind, f"values of type {kind}")


def _converts(value: str, type_: pa.DataType) -> bool:
    """Whether text converts to the column's number or time type (DuckDB casts it once)."""
    convert: Callable[[str], Any] | None = None
    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        convert = float  # DuckDB compares n = '5.5' as numbers
    elif pa.types.is_timestamp(type_):
        convert = dt.datetime.fromisoformat
    elif pa.types.is_date(type_):
        convert = dt.date.fromisoformat
    if convert is None:
        return False
    try:
        convert(value)
    except ValueError:
        return False
    return True


def like_to_regex(pattern: str) -> str:
    """A LIKE pattern (``%`` any text, ``_`` one character) as an anchored regex.

    The regex runs in DuckDB (RE2) or polars (Rust), where ``$`` is the end of the text;
    ``(?s)`` lets ``%`` and ``_`` match a newline, as SQL's LIKE does.
    """
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return "(?s)^" + "".join(parts) + "$"
