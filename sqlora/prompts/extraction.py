"""Pull one clean SQL statement out of free-form model output."""

from __future__ import annotations

import re

import sqlglot
from sqlglot.errors import ParseError, TokenError

_FENCE = re.compile(r"```(?:[a-zA-Z]*)\s*\n?(.*?)(?:```|$)", re.DOTALL)
_QUERY_START = re.compile(r"\bSELECT\b|\bWITH\s+(RECURSIVE\s+)?\w+(\s*\([^)]*\))?\s+AS\s*\(", re.IGNORECASE)
_ANY_START = re.compile(r"\b(SELECT|WITH|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|REPLACE)\b", re.IGNORECASE)
_PROSE = re.compile(
    r"^(this|the|here|note|explanation|it|in this|where|which|that|answer|output|result|question)\b[^()]*[.:]",
    re.IGNORECASE,
)


def _first_statement(text: str) -> str:
    """Text up to the first semicolon that is outside quotes."""
    quote: str | None = None
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char == ";":
            return text[:index]
    return text


def _parses(sql: str) -> bool:
    try:
        statements = sqlglot.parse(sql, read="sqlite")
    except (ParseError, TokenError, RecursionError):
        return False
    return len(statements) == 1 and statements[0] is not None and statements[0].key != "command"


def extract_sql(output: str) -> str:
    """The first SQL statement in ``output``: code fences, leading and trailing prose removed.

    Returns an empty string when no SQL-looking text is found.
    """
    fenced = _FENCE.search(output)
    text = fenced.group(1) if fenced else output
    start = _QUERY_START.search(text) or _ANY_START.search(text)  # a query wins over an echoed schema
    if not start:
        return ""
    text = _first_statement(text[start.start() :])
    lines = []
    for line in text.split("\n"):
        if lines and (not line.strip() or _PROSE.match(line.strip())):
            break
        lines.append(line)
    candidate = " ".join(line.strip() for line in lines if line.strip())
    if _parses(candidate):
        return candidate
    words = candidate.split(" ")
    for end in range(len(words) - 1, 0, -1):  # drop trailing prose word by word until it parses
        shorter = " ".join(words[:end])
        if _parses(shorter):
            return shorter
    return candidate
