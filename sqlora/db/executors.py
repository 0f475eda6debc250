"""The second safety layer: run one statement inside a read-only connection/transaction, with a timeout
and a row cap, and always roll back. These functions do NOT parse the SQL; callers go through
:func:`sqlora.db.readonly.check_readonly` first (``Database.execute_readonly`` does).

* SQLite: the file is opened by :func:`sqlora.db.sqlite.connect_readonly` (``mode=ro``, ``PRAGMA query_only``);
  a progress handler
  interrupts the query at the deadline.
* PostgreSQL: the session defaults to read-only transactions, each query runs after
  ``SET TRANSACTION READ ONLY`` with ``SET LOCAL statement_timeout``, as a prepared statement (one
  statement only).
* MariaDB/MySQL: ``SET SESSION TRANSACTION READ ONLY`` (which, unlike ``START TRANSACTION READ ONLY``
  alone, also blocks DDL, whose implicit commit would escape the transaction), then
  ``START TRANSACTION READ ONLY`` with ``max_statement_time`` (MariaDB) or ``max_execution_time`` (MySQL).
* DuckDB: the database is opened ``read_only`` with external access disabled; a timer interrupts the
  query at the deadline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class QueryResult:
    """Rows of a read-only query (``truncated`` when more than the row cap existed), or why there are none.

    The executors raise :class:`QueryError`/:class:`QueryTimeout` instead of setting ``error``; callers that
    keep failures as values (the evaluation) fill ``error`` and ``timed_out``.
    """

    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    truncated: bool = False
    elapsed_s: float = 0.0
    sql: str = field(default="", repr=False)
    error: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """True when the query ran."""
        return self.error is None

    def json_rows(self) -> list[list]:
        """The rows with every value as something JSON can carry (see :func:`json_cell`)."""
        return [[json_cell(value) for value in row] for row in self.rows]

    def to_dict(self) -> dict:
        return {
            "columns": self.columns,
            "rows": [list(r) for r in self.rows],
            "truncated": self.truncated,
            "elapsed_s": round(self.elapsed_s, 4),
        }


def json_cell(value: Any) -> Any:
    """A database value as JSON: decimals as floats, dates and times in ISO 8601, bytes as UTF-8 text or
    ``0x...`` hex, anything else as its string."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + data.hex()
    return str(value)


class QueryError(RuntimeError):
    """The database rejected or failed the query."""


class QueryTimeout(QueryError):
    """The query ran past its time limit and was stopped."""


def _result(cursor: Any, max_rows: int, started: float, sql: str) -> QueryResult:
    columns = [d[0] for d in (cursor.description or [])]
    rows: Sequence = cursor.fetchmany(max_rows + 1) if cursor.description else []
    rows = [tuple(r) for r in rows]
    truncated = len(rows) > max_rows
    return QueryResult(columns, rows[:max_rows], truncated, time.monotonic() - started, sql)


def run_sqlite(conn: sqlite3.Connection, sql: str, timeout_s: float, max_rows: int) -> QueryResult:
    """One statement on a read-only SQLite connection (:func:`sqlora.db.sqlite.connect_readonly`), interrupted
    at the deadline; the connection is rolled back afterwards."""
    started = time.monotonic()
    deadline = started + timeout_s
    conn.execute("PRAGMA query_only=ON")
    conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 1000)
    try:
        cursor = conn.execute(sql)
        return _result(cursor, max_rows, started, sql)
    except sqlite3.OperationalError as err:
        if "interrupted" in str(err) and time.monotonic() > deadline:
            raise QueryTimeout(f"query stopped after {timeout_s:g} s") from err
        raise QueryError(str(err)) from err
    except (sqlite3.Error, sqlite3.Warning) as err:
        raise QueryError(str(err)) from err
    except (ValueError, OverflowError, MemoryError) as err:  # e.g. a value Python cannot convert
        raise QueryError(f"{type(err).__name__}: {err}") from err
    finally:
        conn.set_progress_handler(None, 0)
        conn.rollback()


def run_postgres(conn: Any, sql: str, timeout_s: float, max_rows: int, schema: str | None = None) -> QueryResult:
    """One statement in a READ ONLY PostgreSQL transaction with a statement timeout (psycopg 3)."""
    import psycopg
    from psycopg import sql as pgsql

    started = time.monotonic()
    conn.rollback()
    try:
        with conn.cursor() as cur:
            cur.execute("SET TRANSACTION READ ONLY")
            cur.execute(pgsql.SQL("SET LOCAL statement_timeout = {}").format(int(max(timeout_s, 0.001) * 1000)))
            if schema:
                cur.execute(pgsql.SQL("SET LOCAL search_path TO {}").format(pgsql.Identifier(schema)))
            cur.execute(sql, prepare=True)
            return _result(cur, max_rows, started, sql)
    except psycopg.errors.QueryCanceled as err:
        raise QueryTimeout(f"query stopped after {timeout_s:g} s") from err
    except psycopg.Error as err:
        raise QueryError(str(err).strip()) from err
    finally:
        conn.rollback()


def run_mysql(conn: Any, sql: str, timeout_s: float, max_rows: int) -> tuple[QueryResult, bool]:
    """One statement in a READ ONLY MariaDB/MySQL transaction with a statement time limit (PyMySQL).

    Returns the result and whether the connection must be discarded (an unread rest of a large result).
    """
    import pymysql
    from pymysql.cursors import SSCursor

    started = time.monotonic()
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        mariadb = "mariadb" in str(cur.fetchone()[0]).lower()
        cur.execute("SET SESSION TRANSACTION READ ONLY")
        if mariadb:
            cur.execute("SET SESSION max_statement_time = %s", (max(timeout_s, 0.001),))
        else:
            cur.execute("SET SESSION max_execution_time = %s", (int(max(timeout_s, 0.001) * 1000),))
    cur = conn.cursor(SSCursor)
    discard = False
    try:
        cur.execute("START TRANSACTION READ ONLY")
        cur.execute(sql)
        result = _result(cur, max_rows, started, sql)
        discard = result.truncated
        return result, discard
    except pymysql.err.OperationalError as err:
        code = err.args[0] if err.args else 0
        if code in (1969, 3024, 1317):
            discard = True
            raise QueryTimeout(f"query stopped after {timeout_s:g} s") from err
        raise QueryError(str(err)) from err
    except pymysql.MySQLError as err:
        raise QueryError(str(err)) from err
    finally:
        if not discard:
            cur.close()
            conn.rollback()


def run_duckdb(conn: Any, sql: str, timeout_s: float, max_rows: int) -> QueryResult:
    """One statement on a read-only DuckDB connection, interrupted at the deadline."""
    import duckdb

    started = time.monotonic()
    statements = conn.extract_statements(sql)
    if len(statements) != 1:
        raise QueryError(f"exactly one statement is allowed, found {len(statements)}")
    timer = threading.Timer(timeout_s, conn.interrupt)
    conn.execute("BEGIN TRANSACTION")
    timer.start()
    try:
        cursor = conn.execute(sql)
        return _result(cursor, max_rows, started, sql)
    except duckdb.InterruptException as err:
        raise QueryTimeout(f"query stopped after {timeout_s:g} s") from err
    except duckdb.Error as err:
        raise QueryError(str(err)) from err
    finally:
        timer.cancel()
        with contextlib.suppress(duckdb.Error):
            conn.execute("ROLLBACK")


def run_generic(conn: Any, sql: str, timeout_s: float, max_rows: int) -> QueryResult:
    """Other DBAPI drivers: one cursor, row cap, rollback (no server-side timeout is set)."""
    started = time.monotonic()
    cur = conn.cursor()
    try:
        cur.execute(sql)
        return _result(cur, max_rows, started, sql)
    except Exception as err:
        raise QueryError(str(err)) from err
    finally:
        cur.close()
        conn.rollback()
