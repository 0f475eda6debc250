"""Normalized exact match: two queries are equal when their sqlglot-normalized forms are equal."""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.sql.schema import parse_schema

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@lru_cache(maxsize=1024)
def _schema_columns(context: str) -> frozenset[str]:
    try:
        return frozenset(c.lower() for t in parse_schema(context) for c in t.column_names)
    except (ParseError, TokenError, RecursionError):
        return frozenset()


def _quoted_strings_to_literals(tree: exp.Expression, columns: frozenset[str]) -> None:
    """SQLite reads ``"John"`` as a string when no column has that name: make it a literal."""
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if not isinstance(ident, exp.Identifier) or not ident.quoted or column.table:
            continue
        if columns and ident.name.lower() not in columns:
            column.replace(exp.Literal.string(ident.name))


def _resolve_aliases(tree: exp.Expression) -> None:
    """Replace table aliases by table names when every table appears once; drop lone-table qualifiers."""
    tables = list(tree.find_all(exp.Table))
    names = [t.name.lower() for t in tables]
    if len(names) != len(set(names)):
        return  # self-joins: aliases are what tells the copies apart
    aliases = {t.alias.lower(): t.name.lower() for t in tables if t.alias}
    for table in tables:
        if table.alias:
            table.set("alias", None)
    single = len(set(names)) == 1
    for column in tree.find_all(exp.Column):
        qualifier = column.table.lower() if column.table else ""
        if not qualifier:
            continue
        if single and (qualifier in aliases or qualifier in names):
            column.set("table", None)
        elif qualifier in aliases:
            column.set("table", exp.to_identifier(aliases[qualifier]))


def _normalize_identifiers(tree: exp.Expression) -> None:
    for ident in tree.find_all(exp.Identifier):
        if _PLAIN.match(ident.name):
            ident.set("quoted", False)
        ident.set("this", ident.name.lower())


@lru_cache(maxsize=8192)
def normalize_sql(sql: str, context: str = "") -> str | None:
    """Canonical text of ``sql`` (None when it does not parse as one statement).

    Keywords, identifier case and quoting, whitespace, trailing semicolons, ``!=``/``<>`` and
    table aliases (when unambiguous) are normalized away; string literals keep their case.
    ``context`` (CREATE TABLE text) lets ``"John"`` be recognized as a string, as SQLite reads it.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except (ParseError, TokenError, RecursionError):
        return None
    if len(statements) != 1:
        return None
    tree = statements[0].copy()
    if context:
        _quoted_strings_to_literals(tree, _schema_columns(context))
    _resolve_aliases(tree)
    _normalize_identifiers(tree)
    return tree.sql(dialect="sqlite", normalize=True, pretty=False)


def exact_match(gold: str, pred: str, context: str = "") -> bool:
    """Whether ``pred`` equals ``gold`` after normalization (an unparsable prediction never matches)."""
    gold_norm, pred_norm = normalize_sql(gold, context), normalize_sql(pred, context)
    if pred_norm is None:
        return False
    return gold_norm == pred_norm
