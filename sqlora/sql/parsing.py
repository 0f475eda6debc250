"""Parsing helpers shared by the modules that read gold and predicted SQL."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError


def parse_or_none(sql: str, dialect: str = "sqlite") -> exp.Expression | None:
    """The parsed statement, or None when ``sql`` does not parse (or is empty)."""
    try:
        return sqlglot.parse_one(sql, read=dialect)
    except (ParseError, TokenError, RecursionError):
        return None
