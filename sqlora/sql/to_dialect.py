"""Generated SQL (written in SQLite, the training dialect) for the database it will run on."""

from __future__ import annotations

import sqlglot

from sqlora.sql.schema import parse_schema


def schema_columns(schema: str) -> set[str] | None:
    """The lower-cased column names of a CREATE TABLE context (None when it does not parse)."""
    try:
        return {name.lower() for table in parse_schema(schema) for name in table.column_names} or None
    except sqlglot.errors.SqlglotError:
        return None


def transpile_from_sqlite(sql: str, dialect: str, schema: str = "") -> str:
    """Generated (SQLite) SQL in ``dialect``; the schema's columns decide what double quotes mean."""
    if dialect == "sqlite":
        return sql
    from sqlora.sql.dialects import transpile

    return transpile(sql, to=dialect, columns=schema_columns(schema))
