"""Identifiers for generated SQL: quoted only when the dialect needs it (odd characters, keywords, case)."""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEYWORDS = frozenset(
    {
        "all", "alter", "and", "any", "as", "asc", "between", "by", "case", "cast", "check", "column",
        "constraint", "create", "cross", "current", "default", "delete", "desc", "distinct", "drop", "else",
        "end", "except", "exists", "false", "fetch", "for", "foreign", "from", "full", "group", "having", "in",
        "index", "inner", "insert", "intersect", "into", "is", "join", "key", "left", "like", "limit",
        "natural", "not", "null", "offset", "on", "or", "order", "outer", "primary", "range", "references",
        "right", "rows", "select", "set", "table", "then", "to", "true", "union", "unique", "update", "using",
        "values", "view", "when", "where", "window", "with"
    }
)  # fmt: skip


def needs_quotes(name: str, dialect: str) -> bool:
    """True when ``name`` must be quoted in ``dialect`` to mean exactly this identifier."""
    if not _PLAIN.match(name) or name.lower() in _KEYWORDS:
        return True
    d = Dialect.get_or_raise(dialect)
    reserved = getattr(d.generator_class, "RESERVED_KEYWORDS", set())
    return name.lower() in reserved or d.case_sensitive(name)


def ident(name: str, dialect: str) -> exp.Identifier:
    """An identifier node for ``name``, quoted only if needed."""
    return exp.to_identifier(name, quoted=needs_quotes(name, dialect))


def column(name: str, dialect: str, table: str | None = None) -> exp.Column:
    """A (optionally qualified) column node."""
    return exp.Column(this=ident(name, dialect), table=ident(table, dialect) if table else None)


def table(name: str, dialect: str, schema: str | None = None, alias: str | None = None) -> exp.Table:
    """A table node, schema-qualified when ``schema`` is given."""
    node = exp.Table(this=ident(name, dialect), db=ident(schema, dialect) if schema else None)
    if alias:
        node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return node


def quote(name: str, dialect: str) -> str:
    """The identifier as SQL text."""
    return ident(name, dialect).sql(dialect=dialect)
