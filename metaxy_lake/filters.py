"""SQL-like filter text as narwhals expressions: ``"status = 'ok' AND score > 0.5"``.

The text is parsed by sqlglot into a syntax tree, and the tree is turned into a narwhals
expression; the text itself never reaches a query. Allowed: column references, literals
(strings, numbers, booleans), comparisons (``= != <> < <= > >=``), ``AND``/``OR``/``NOT``,
``IN`` (a list of literals), ``IS [NOT] NULL``, ``LIKE`` (``%`` and ``_``) and
parentheses. Anything else is an ``InvalidFilterError`` naming the construct.

Example:
    >>> expr = parse_filter("lang IN ('en', 'fr') AND NOT score < 0.5")
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import narwhals as nw
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

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
_MIRRORED: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
}


def parse_filter(text: str) -> nw.Expr:
    """Parse SQL-like filter text into a narwhals boolean expression.

    Raises:
        InvalidFilterError: The text does not parse, or uses a construct that is not
            allowed (the message names it).
    """
    return _condition(_parse(text), text)


def parse_filter_columns(text: str) -> tuple[nw.Expr, set[str]]:
    """``parse_filter``'s expression, and the column names the text refers to.

    Raises:
        InvalidFilterError: As ``parse_filter``.
    """
    tree = _parse(text)
    return _condition(tree, text), {column.name for column in tree.find_all(exp.Column)}


def _parse(text: str) -> exp.Expression:
    try:
        statements = sqlglot.parse(text, read="duckdb")
    except ParseError as exc:
        where = exc.errors[0] if exc.errors else {}
        what = where.get("description") or "invalid syntax"
        column = f" at column {where['col']}" if "col" in where else ""
        raise InvalidFilterError(f"filter {text!r} does not parse{column}: {what}") from exc
    if len(statements) != 1 or not isinstance(statements[0], exp.Expression):
        raise InvalidFilterError(f"filter {text!r} must be one condition, not several statements")
    return statements[0]


def _refuse(node: exp.Expression, text: str, what: str | None = None) -> InvalidFilterError:
    name = what or f"{node.key.upper()} ({node.sql()})"
    return InvalidFilterError(f"filter {text!r}: {name} is not allowed (allowed: {ALLOWED})")


def _condition(node: exp.Expression, text: str) -> nw.Expr:
    if node.args.get("negate"):  # sqlglot spells ``a NOT LIKE b`` as Like(negate=True)
        positive = node.copy()
        positive.set("negate", False)
        return ~_condition(positive, text)
    if isinstance(node, exp.Paren):
        return _condition(node.this, text)
    if isinstance(node, exp.And):
        return _condition(node.this, text) & _condition(node.expression, text)
    if isinstance(node, exp.Or):
        return _condition(node.this, text) | _condition(node.expression, text)
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
            raise _refuse(node, text, f"IS {node.expression.sql()}")
        return _column(node.this, text).is_null()
    if isinstance(node, exp.Like):
        pattern = _literal(node.expression, text)
        if not isinstance(pattern, str):
            raise _refuse(node, text, "LIKE with a pattern that is not a string")
        return _column(node.this, text).str.contains(like_to_regex(pattern))
    if isinstance(node, exp.Column | exp.Boolean):
        raise _refuse(node, text, f"a bare {node.sql()} (compare it with a value)")
    raise _refuse(node, text)


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
        raise _refuse(node, text, f"{node.sql()} in place of a column name")
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
        number = node.this
        return float(number) if any(c in number for c in ".eE") else int(number)
    raise _refuse(node, text, f"{node.sql()} in place of a literal value")


def like_to_regex(pattern: str) -> str:
    """A LIKE pattern (``%`` any text, ``_`` one character) as an anchored regex."""
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return "^" + "".join(parts) + "$"
