"""Schema context for prompts: CREATE TABLE text, optional sample values, pruning by question.

Format: the tables in the dataset's compact style (``render_create_tables``). With ``sample_values=N``
a second section follows, one SQL comment line per table listing up to N frequent values per column
(key columns ending in ``id`` and binary columns are skipped)::

    CREATE TABLE singer (Singer_ID INTEGER, Name TEXT, Country TEXT)
    -- singer: Name 'Joe Sharp', 'Timbaland'; Country 'United States', 'France'

With a ``question``, only the tables and columns it is about are kept (schema linking: the two tables sharing the
most words and spelled-out values with it, a table joining them by foreign keys, and in each the columns it likely
needs; :mod:`sqlora.sql.linking`), in their original order.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlglot import exp

from sqlora.db import names
from sqlora.sql.linking import Link, ValueIndex, question_pruned_tables
from sqlora.sql.schema import Table, render_create_tables

if TYPE_CHECKING:
    from sqlora.db.connect import Database

_SKIP_TYPES = ("BLOB", "BYTEA", "BINARY", "IMAGE", "GEOMETRY")


def question_tables(db: Database, question: str) -> list[Table]:
    """The tables and columns ``question`` is about (:func:`sqlora.sql.linking.question_pruned_tables`, with the
    database's declared foreign keys and its text values)."""
    links = [
        Link(fk.table, column, fk.ref_table, ref)
        for fk in db.foreign_keys()
        for column, ref in zip(fk.columns, fk.ref_columns or fk.columns, strict=False)
    ]
    return question_pruned_tables(question, db.tables(), links, db.value_index)


def column_values(db: Database, rows: int = 10_000) -> ValueIndex:
    """The distinct text values of each column among the first ``rows`` rows of its table (read-only, 5 s per
    column at most; a column that cannot be read is left out); tables with more rows are marked partial.

    These queries and :func:`column_samples`' are sqlora's own, built from quoted names: they run in the
    read-only transaction with its timeout and row cap, without the parser gate that generated SQL passes."""
    schema = db.schema if db.backend != "postgresql" else None  # postgres: search_path
    columns, partial = [], []
    for table in db.tables():
        sample = exp.select("1").from_(names.table(table.name, db.dialect, schema)).limit(rows + 1)
        counted = exp.select(exp.Count(this=exp.Star())).from_(sample.subquery("s"))
        try:
            if db.execute_unchecked(counted.sql(dialect=db.dialect), timeout_s=5.0, max_rows=1).rows[0][0] > rows:
                partial.append(table.name)
        except Exception:  # noqa: BLE001 - unknown size: its values may be incomplete
            partial.append(table.name)
        for col, kind in table.columns:
            if any(t in (kind or "").upper() for t in _SKIP_TYPES):
                continue
            c = names.column(col, db.dialect)
            inner = exp.select(c).from_(names.table(table.name, db.dialect, schema)).limit(rows)
            query = exp.select(c.copy()).distinct().from_(inner.subquery("s"))
            try:
                found = db.execute_unchecked(query.sql(dialect=db.dialect), timeout_s=5.0, max_rows=rows).rows
            except Exception:  # values only sharpen the linking; never fail a context over them
                continue
            columns.append((table.name, col, [row[0] for row in found]))
    return ValueIndex(columns, partial)


@lru_cache(maxsize=64)
def sqlite_file_values(db_path: str) -> ValueIndex:
    """:func:`column_values` of a SQLite file, read once per file: dataset loading links thousands of questions
    to a few hundred database files, and must see the values the live path sees."""
    from sqlora.db.connect import Database

    with Database(f"sqlite:///{db_path}") as db:
        return column_values(db)


def column_samples(db: Database, table: Table, n: int, text_len: int = 30) -> dict[str, list]:
    """Up to ``n`` frequent non-null values of each column (from the first 10,000 rows)."""
    out: dict[str, list] = {}
    for col, kind in table.columns:
        if any(t in (kind or "").upper() for t in _SKIP_TYPES) or re.search(r"(^|_|[a-z])(id|ID|Id)$", col):
            continue  # binary data and key columns say little to a model
        c = names.column(col, db.dialect)
        schema = db.schema if db.backend != "postgresql" else None  # postgres: search_path
        inner = exp.select(c).from_(names.table(table.name, db.dialect, schema))
        inner = inner.where(exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null()))).limit(10_000)
        query = (
            exp.select(names.column(col, db.dialect))
            .from_(inner.subquery("s"))
            .group_by(names.column(col, db.dialect))
            .order_by(exp.Ordered(this=exp.Count(this=exp.Star()), desc=True), names.column(col, db.dialect))
            .limit(n)
        )
        try:
            rows = db.execute_unchecked(query.sql(dialect=db.dialect), timeout_s=5.0, max_rows=n).rows
        except Exception:  # a sample is a nicety; never fail the context over it
            continue
        values = [_short(r[0], text_len) for r in rows if r[0] is not None and not isinstance(r[0], bytes)]
        if values:
            out[col] = values
    return out


def _short(value: object, text_len: int) -> object:
    if isinstance(value, str) and len(value) > text_len:
        return value[: text_len - 3] + "..."
    return value


def _literal(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).upper()
    if isinstance(value, int | float):
        return repr(round(value, 4) if isinstance(value, float) else value)
    return "'" + str(value).replace("'", "''").replace("\n", " ") + "'"


def schema_context(db: Database, sample_values: int = 0, question: str | None = None) -> str:
    """CREATE TABLE context for ``db``; see the module docstring for the format."""
    tables = question_tables(db, question) if question else db.tables()
    text = render_create_tables(tables)
    if sample_values <= 0:
        return text
    lines = []
    for table in tables:
        values = column_samples(db, table, sample_values)
        parts = [f"{col} {', '.join(_literal(v) for v in vals)}" for col, vals in values.items()]
        if parts:
            lines.append(f"-- {table.name}: " + "; ".join(parts))
    return text + ("\n" + "\n".join(lines) if lines else "")
