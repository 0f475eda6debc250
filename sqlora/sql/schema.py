"""Schema context: CREATE TABLE text <-> a table/column mapping (SQLite files are read in :mod:`sqlora.db.sqlite`)."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp

_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIMPLE_TYPE = re.compile(r"^[A-Za-z]+(\s*\(\s*\d+\s*(,\s*\d+\s*)?\))?$")


def clean_type(declared: str) -> str:
    """A declared column type as a simple type name; odd ones become their SQLite affinity."""
    declared = (declared or "").strip()
    if _SIMPLE_TYPE.match(declared):
        return declared.upper()
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")) or not upper:
        return "TEXT"
    if "BLOB" in upper:
        return "BLOB"
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


@dataclass
class Table:
    """A table's name and its columns as (name, declared type) pairs."""

    name: str
    columns: list[tuple[str, str]] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


@lru_cache(maxsize=4096)
def _reserved_in_sqlite(name: str) -> bool:
    """Whether SQLite refuses ``name`` as a bare column name (``order``, ``select``, ...)."""
    try:
        sqlite3.connect(":memory:").execute(f"CREATE TABLE t ({name} INTEGER)")
    except sqlite3.Error:
        return True
    return False


def quote_identifier(name: str) -> str:
    """Quote a name only when it needs it, so contexts stay in the dataset's compact style."""
    if _PLAIN_NAME.match(name) and not _reserved_in_sqlite(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def render_create_tables(tables: list[Table]) -> str:
    """Render tables as compact CREATE TABLE statements joined by '; ' (sql-create-context style)."""
    lines = []
    for table in tables:
        cols = ", ".join(f"{quote_identifier(n)} {clean_type(t)}" for n, t in table.columns)
        lines.append(f"CREATE TABLE {quote_identifier(table.name)} ({cols})")
    return "; ".join(lines)


def parse_schema(context: str, dialect: str = "sqlite") -> list[Table]:
    """Read CREATE TABLE statements into tables; statements of other kinds are ignored."""
    tables: list[Table] = []
    for statement in sqlglot.parse(context, read=dialect):
        if not isinstance(statement, exp.Create) or not isinstance(statement.this, exp.Schema):
            continue
        schema = statement.this
        table = Table(name=schema.this.name)
        for column in schema.expressions:
            if isinstance(column, exp.ColumnDef):
                kind = column.args.get("kind")
                table.columns.append((column.name, kind.sql(dialect=dialect) if kind else "TEXT"))
        tables.append(table)
    return tables
