"""Row validation: required fields present, schema and SQL parseable by sqlglot."""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.data.record import Example


class InvalidRow(ValueError):
    """A row that cannot become an :class:`Example`; the message is the reason."""


REQUIRED = ("question", "context", "sql")


def _parse_all(text: str, dialect: str) -> list[exp.Expression]:
    try:
        return [e for e in sqlglot.parse(text, read=dialect) if e is not None]
    except (ParseError, TokenError) as err:
        raise InvalidRow(str(err).splitlines()[0]) from None


@lru_cache(maxsize=4096)
def context_problem(context: str, dialect: str = "sqlite") -> str | None:
    """Why a schema context is unusable, or None when it is a list of CREATE TABLE statements."""
    try:
        statements = _parse_all(context, dialect)
    except InvalidRow as err:
        return f"context does not parse: {err}"
    if not statements or not all(isinstance(s, exp.Create) and s.kind == "TABLE" for s in statements):
        return "context is not a list of CREATE TABLE statements"
    return None


def check_example(values: dict, dialect: str = "sqlite") -> Example:
    """Build an Example from a mapping of field -> value, or raise InvalidRow with a reason."""
    for name in REQUIRED:
        value = values.get(name)
        if value is None:
            raise InvalidRow(f"missing field '{name}'")
        if not isinstance(value, str):
            raise InvalidRow(f"field '{name}' is not a string")
        if not value.strip():
            raise InvalidRow(f"empty field '{name}'")
    problem = context_problem(values["context"], dialect)
    if problem:
        raise InvalidRow(problem)
    try:
        query = _parse_all(values["sql"], dialect)
    except InvalidRow as err:
        raise InvalidRow(f"SQL does not parse: {err}") from None
    if len(query) != 1:
        raise InvalidRow("SQL is not exactly one statement")
    if not isinstance(query[0], exp.Query):
        raise InvalidRow(f"SQL is not a query (a {query[0].key.upper()} statement; answers must be SELECT ...)")
    db_id = values.get("db_id")
    db_path = values.get("db_path")
    return Example(
        question=values["question"].strip(),
        context=values["context"].strip(),
        sql=values["sql"].strip(),
        db_id=str(db_id) if db_id not in (None, "") else None,
        db_path=str(db_path) if db_path not in (None, "") else None,
    )
