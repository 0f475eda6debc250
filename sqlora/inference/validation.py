"""Validate generated SQL against a schema: it parses, is a read query, and compiles (EXPLAIN)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.sql.identifiers import fix_identifier
from sqlora.sql.joins import fix_self_comparisons, join_missing_column
from sqlora.sql.schema import Table, parse_schema, render_create_tables


@dataclass
class Validation:
    valid: bool
    errors: list[str] = field(default_factory=list)


READ_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)


@lru_cache(maxsize=256)
def _schema_tables(schema: str) -> tuple[Table, ...]:
    """The schema's tables; a table declared twice gets the union of its columns."""
    merged: dict[str, Table] = {}
    for table in parse_schema(schema):
        known = merged.setdefault(table.name.lower(), Table(table.name))
        seen = {name.lower() for name in known.column_names}
        known.columns += [(n, t) for n, t in table.columns if n.lower() not in seen and not seen.add(n.lower())]
    return tuple(merged.values())


def _schema_statements(schema: str) -> tuple[str, ...]:
    """CREATE TABLE statements for the schema (one per table)."""
    return tuple(render_create_tables([table]) for table in _schema_tables(schema))


def schema_database(schema: str) -> sqlite3.Connection:
    """An empty in-memory SQLite database with the schema's tables (for dry runs)."""
    conn = sqlite3.connect(":memory:")
    for statement in _schema_statements(schema):
        conn.execute(statement)
    return conn


def validate_sql(sql: str, schema: str) -> Validation:
    """Check that ``sql`` is one read-only statement that compiles against ``schema`` (SQLite)."""
    if not sql.strip():
        return Validation(False, ["no SQL found in the model output"])
    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
    except (ParseError, TokenError, RecursionError) as err:
        return Validation(False, [f"syntax error: {str(err).splitlines()[0]}"])
    if len(statements) != 1:
        return Validation(False, ["expected exactly one statement"])
    root = statements[0]
    if not isinstance(root, READ_ROOTS):
        return Validation(False, [f"only SELECT queries are allowed, got {root.key.upper()}"])
    try:
        conn = schema_database(schema)
    except sqlite3.Error as err:
        return Validation(False, [f"schema does not load: {err}"])
    try:
        conn.execute(f"EXPLAIN {sql}")
    except sqlite3.Error as err:
        return Validation(False, [f"does not compile against the schema: {err}"])
    finally:
        conn.close()
    return Validation(True)


def repair_identifiers(sql: str, schema: str, attempts: int = 4) -> str | None:
    """``sql`` with the table/column names SQLite rejects fixed, once it compiles: a column of a schema table the
    query does not read gets that table joined (:func:`sqlora.sql.joins.join_missing_column`), other names are
    renamed to the schema's closest ones (:mod:`sqlora.sql.identifiers`); None when a problem is not a name or
    has no fix."""
    for _ in range(attempts):
        verdict = validate_sql(sql, schema)
        if verdict.valid:
            return sql
        tables = list(_schema_tables(schema))
        try:
            fixed = join_missing_column(sql, verdict.errors[0], tables) or fix_identifier(
                sql, verdict.errors[0], tables
            )
        except sqlite3.Error:
            return None
        if fixed is None or fixed == sql:
            return None
        sql = fixed
    return sql if validate_sql(sql, schema).valid else None


def repair_joins(sql: str, schema: str) -> str | None:
    """``sql`` with join conditions that compare a column with itself (``ON T1.x = T1.x``) pointed at the
    joined table, if that still compiles; None when there is nothing to repair (see :mod:`sqlora.sql.joins`)."""
    fixed = fix_self_comparisons(sql, _schema_tables(schema))
    return fixed if fixed is not None and validate_sql(fixed, schema).valid else None
