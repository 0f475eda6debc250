"""Is a text a SQL statement at all? (``this is not sql`` parses, as an expression, but it is no statement.)"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

NOT_STATEMENTS = (exp.Condition, exp.Alias, exp.Identifier, exp.Paren, exp.Tuple, exp.Star)
"""Roots sqlglot accepts as a bare expression (a column, a comparison ...): words that happen to parse."""


TOKEN_REPR = re.compile(
    r"<Token token_type: [^,]*, text: (.*?), line: \d+, col: \d+, start: \d+, end: \d+, comments: .*?>"
)


def _first_line(err: Exception) -> str:
    """A parse error's first line, with sqlglot's token repr shortened to the token's text."""
    line = str(err).splitlines()[0] if str(err) else type(err).__name__
    return TOKEN_REPR.sub(lambda m: repr(m.group(1)), line)


def statement_problem(sql: str, dialect: str = "sqlite") -> str | None:
    """Why ``sql`` is not exactly one SQL statement, or None when it is one."""
    if not sql.strip():
        return "the SQL is empty"
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except SqlglotError as err:
        return f"the SQL does not parse: {_first_line(err)}"
    if len(trees) != 1:
        return f"expected one SQL statement, found {len(trees)}"
    tree = trees[0]
    if isinstance(tree, NOT_STATEMENTS):
        return f"not a SQL statement ({sql.strip()[:60]!r} reads as a bare {tree.key.upper()} expression)"
    if isinstance(tree, exp.Select) and not tree.expressions:
        return "a SELECT without anything to select"
    return None
