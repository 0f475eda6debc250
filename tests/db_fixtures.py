"""Fixtures for database tests: server URLs (skipped when unreachable), per-run schemas, data loading, checksums.

Import from a test module with ``from db_fixtures import ...`` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def pg_connect(dbname: str = "test", autocommit: bool = True):
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname=dbname, autocommit=autocommit,
                           connect_timeout=3)  # fmt: skip


def mariadb_connect(database: str | None = "test"):
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database,
                           connect_timeout=3, autocommit=True)  # fmt: skip


@pytest.fixture(scope="session")
def pg_available() -> None:
    try:
        pg_connect().close()
    except Exception as err:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 unreachable ({err}); run `bash .ci/services.sh`")


@pytest.fixture(scope="session")
def mariadb_available() -> None:
    try:
        mariadb_connect().close()
    except Exception as err:
        pytest.skip(f"MariaDB at 127.0.0.1:3306 unreachable ({err}); run `bash .ci/services.sh`")


def unique_name(prefix: str = "sqlora_t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# -- loading a SQLite database into other engines --------------------------------------------------
def sqlite_tables(path: Path, only: list[str] | None = None) -> list[tuple[str, list[tuple[str, str]], list[tuple]]]:
    """(table, [(column, declared type)], rows) for the tables of a SQLite file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]  # fmt: skip
        out = []
        for name in names:
            if only and name not in only:
                continue
            cols = [(r[1], r[2]) for r in conn.execute(f'PRAGMA table_info("{name}")')]
            rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            out.append((name, cols, rows))
        return out
    finally:
        conn.close()


def _type(declared: str, target: str) -> str:
    upper = (declared or "").upper()
    if "INT" in upper:
        return "BIGINT"
    if any(k in upper for k in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
        return "DOUBLE PRECISION" if target == "postgres" else "DOUBLE"
    return "VARCHAR(255)" if target == "mysql" else "TEXT"


def load_into(target: str, conn, tables, schema: str | None = None) -> None:
    """Create the tables (lower-case names, like a hand-made schema) and insert the rows."""
    prefix = f"{schema}." if schema else ""
    mark = "?" if target == "duckdb" else "%s"
    q = "`" if target == "mysql" else '"'
    cur = conn.cursor()
    for name, cols, rows in tables:
        columns = ", ".join(f"{q}{c.lower()}{q} {_type(t, target)}" for c, t in cols)
        cur.execute(f"CREATE TABLE {prefix}{name.lower()} ({columns})")
        if rows:
            marks = ", ".join([mark] * len(cols))
            cur.executemany(f"INSERT INTO {prefix}{name.lower()} VALUES ({marks})", rows)
    if target == "duckdb":
        conn.commit()


@pytest.fixture(scope="module")
def pg_schema(pg_available):
    """A fresh PostgreSQL schema name, dropped afterwards."""
    name = unique_name()
    conn = pg_connect()
    conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        conn.execute(f"DROP SCHEMA {name} CASCADE")
        conn.close()


@pytest.fixture(scope="module")
def mariadb_database(mariadb_available):
    """A fresh MariaDB database name, dropped afterwards."""
    name = unique_name()
    conn = mariadb_connect(None)
    conn.cursor().execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        conn.cursor().execute(f"DROP DATABASE {name}")
        conn.close()


def spider_sqlite(spider_dir: Path, db_id: str) -> Path:
    path = spider_dir / "database" / db_id / f"{db_id}.sqlite"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def writable_copy(spider_dir: Path, db_id: str, tmp_path: Path) -> Path:
    """A writable copy of a Spider database in the test's tmp dir (never in the repo)."""
    target = tmp_path / f"{db_id}.sqlite"
    shutil.copyfile(spider_sqlite(spider_dir, db_id), target)
    target.chmod(0o644)
    return target


# -- checksums: schema + every table's sorted rows ---------------------------------------------------
def _digest(parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(repr(part).encode())
    return h.hexdigest()


def sqlite_checksum(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        parts = [schema]
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            parts.append((name, sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)))
        return _digest(parts)
    finally:
        conn.close()


def pg_checksum(schema: str) -> str:
    conn = pg_connect()
    try:
        cols = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = %s "
            "ORDER BY 1, 2", (schema,)).fetchall()  # fmt: skip
        idx = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
                           (schema,)).fetchall()  # fmt: skip
        parts = [cols, idx]
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (schema,)
        ).fetchall():
            parts.append((name, sorted(conn.execute(f'SELECT * FROM {schema}."{name}"').fetchall(), key=repr)))
        return _digest(parts)
    finally:
        conn.close()


def mariadb_checksum(database: str) -> str:
    conn = mariadb_connect(database)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT table_name, column_name, column_type FROM information_schema.columns WHERE table_schema = %s "
            "ORDER BY 1, 2", (database,))  # fmt: skip
        parts = [cur.fetchall()]
        cur.execute("SELECT table_name, index_name, column_name FROM information_schema.statistics "
                    "WHERE table_schema = %s ORDER BY 1, 2, 3", (database,))  # fmt: skip
        parts.append(cur.fetchall())
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", (database,))
        for (name,) in cur.fetchall():
            cur.execute(f"SELECT * FROM `{name}`")
            parts.append((name, sorted(cur.fetchall(), key=repr)))
        return _digest(parts)
    finally:
        conn.close()
