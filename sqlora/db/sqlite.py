"""SQLite files, read-only: the one way sqlora opens them, and their tables and foreign keys.

Every SQLite file sqlora reads (a user's database, an evaluation database, a dataset's schema source) is
opened by :func:`connect_readonly`; queries on it run through :func:`sqlora.db.executors.run_sqlite`.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from functools import lru_cache
from pathlib import Path

from sqlora.sql.linking import Link
from sqlora.sql.schema import Table, quote_identifier, render_create_tables


def _decode(raw: bytes) -> str:
    """Text as UTF-8, bad bytes replaced (some Spider databases hold latin-1)."""
    return raw.decode("utf-8", errors="replace")


def connect_readonly(path: str | Path) -> sqlite3.Connection:
    """Open an existing SQLite file read-only: ``mode=ro`` URI and ``PRAGMA query_only``.

    The connection may be used from other threads (the server runs queries in a worker thread).
    """
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    conn.text_factory = _decode
    return conn


@lru_cache(maxsize=512)
def sqlite_tables(db_path: str) -> tuple[Table, ...]:
    """The user tables of a SQLite file in creation order, with their columns (``PRAGMA table_info``)."""
    with closing(connect_readonly(db_path)) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        tables = []
        for name in names:
            info = conn.execute(f"PRAGMA table_info({quote_identifier(name)})").fetchall()
            tables.append(Table(name=name, columns=[(row[1], row[2]) for row in info]))
    return tuple(tables)


@lru_cache(maxsize=512)
def sqlite_links(db_path: str) -> tuple[Link, ...]:
    """The foreign keys a SQLite file declares (``PRAGMA foreign_key_list``)."""
    links = []
    with closing(connect_readonly(db_path)) as conn:
        for table in sqlite_tables(db_path):
            for row in conn.execute(f"PRAGMA foreign_key_list({quote_identifier(table.name)})"):
                ref_table, column, ref_column = row[2], row[3], row[4]
                links.append(Link(table.name, column, ref_table, ref_column or column))
    return tuple(links)


def sqlite_schema_context(db_path: str | Path) -> str:
    """The full schema of a SQLite database as compact CREATE TABLE context."""
    return render_create_tables(list(sqlite_tables(str(db_path))))
