"""Hostile SQL: refused by the gate on SQLite, PostgreSQL and MariaDB, databases unchanged; the read-only
transaction layer blocks writes on its own; timeouts stop runaway queries; the row cap truncates."""

from __future__ import annotations

import time

import pytest
from db_fixtures import (
    MARIADB_URL,
    PG_URL,
    load_into,
    mariadb_checksum,
    mariadb_connect,
    pg_checksum,
    pg_connect,
    spider_sqlite,
    sqlite_checksum,
    sqlite_tables,
    writable_copy,
)

from sqlora.db import Database, QueryError, QueryTimeout, UnsafeSQLError, check_readonly

HOSTILE = [
    "INSERT INTO climber VALUES (99, 'x', 'y', 'z', 1.0, 1)",
    "INSERT OR REPLACE INTO climber VALUES (1, 'x', 'y', 'z', 1.0, 1)",
    "REPLACE INTO climber VALUES (1, 'x', 'y', 'z', 1.0, 1)",
    "UPDATE climber SET Points = 0",
    "DELETE FROM climber",
    "MERGE INTO climber USING mountain ON climber.Mountain_ID = mountain.Mountain_ID WHEN MATCHED THEN DELETE",
    "INSERT INTO climber SELECT * FROM climber ON CONFLICT DO NOTHING",
    "DROP TABLE climber",
    "CREATE TABLE evil (a int)",
    "CREATE TABLE evil AS SELECT * FROM climber",
    "CREATE INDEX evil_idx ON climber (Name)",
    "CREATE VIEW evil AS SELECT 1",
    "ALTER TABLE climber ADD COLUMN evil int",
    "ALTER TABLE climber RENAME TO evil",
    "RENAME TABLE climber TO evil",
    "TRUNCATE TABLE climber",
    "ATTACH DATABASE '/tmp/sqlora_evil.db' AS evil",
    "DETACH DATABASE main",
    "PRAGMA query_only = OFF",
    "PRAGMA writable_schema = ON",
    "VACUUM",
    "VACUUM INTO '/tmp/sqlora_evil.db'",
    "SET search_path = evil",
    "SET GLOBAL read_only = 0",
    "SET SESSION TRANSACTION READ WRITE",
    "GRANT ALL ON climber TO PUBLIC",
    "COPY climber TO '/tmp/sqlora_evil.csv'",
    "COPY climber FROM '/tmp/sqlora_evil.csv'",
    "CALL evil_procedure()",
    "EXEC xp_cmdshell 'dir'",
    "DO $$ BEGIN DELETE FROM climber; END $$",
    "LOAD DATA INFILE '/etc/passwd' INTO TABLE climber",
    "INSTALL httpfs",
    "LOAD httpfs",
    "BEGIN; DELETE FROM climber; COMMIT",
    "COMMIT",
    "LOCK TABLES climber WRITE",
    "SELECT 1; DROP TABLE climber",
    "SELECT * FROM climber; DELETE FROM climber",
    "SELECT 1 UNION SELECT 2; UPDATE climber SET Points = 0",
    "SELECT * FROM climber WHERE 1 = 1; -- trailing comment\nDROP TABLE climber",
    "SELECT 1 /* ; DROP TABLE climber */",
    "SELECT 1 -- ; DELETE FROM climber",
    "SELECT 1 /*! ; DROP TABLE climber */",
    "SELECT 1 /*!50000 , (SELECT 1) */",
    "WITH d AS (DELETE FROM climber RETURNING *) SELECT * FROM d",
    "WITH u AS (UPDATE climber SET Points = 0 RETURNING *) SELECT count(*) FROM u",
    "WITH i AS (INSERT INTO climber (Climber_ID) VALUES (99) RETURNING *) SELECT * FROM i",
    "SELECT * INTO evil FROM climber",
    "SELECT * FROM climber INTO OUTFILE '/tmp/sqlora_evil.txt'",
    "SELECT * FROM climber FOR UPDATE",
    "SELECT * FROM climber FOR SHARE",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT writefile('/tmp/sqlora_evil', 'x')",
    "SELECT readfile('/etc/passwd')",
    "SELECT lo_import('/etc/passwd')",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT * FROM dblink('host=evil', 'DELETE FROM climber') AS t(a int)",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT query_to_xml('DELETE FROM climber', true, true, '')",
    "SELECT nextval('evil_seq')",
    "SELECT pg_terminate_backend(1)",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT BENCHMARK(100000000, MD5('x'))",
    "SELECT * FROM pg_shadow",
    "SELECT * FROM mysql.user",
    "EXPLAIN ANALYZE DELETE FROM climber",
    "HANDLER climber OPEN",
    "",
    "   ;  ; ",
    "SELECT FROM WHERE (",
    "SELECT Name FROM climber WHERE",
]

BENIGN = [
    "SELECT Name FROM climber WHERE Points > 5 ORDER BY Points DESC LIMIT 3",
    "WITH top AS (SELECT * FROM climber WHERE Points > 5) SELECT count(*) FROM top",
    "SELECT Country FROM climber UNION SELECT Country FROM mountain",
    "(SELECT Name FROM mountain)",
    "SELECT T1.Name FROM climber AS T1 JOIN mountain AS T2 ON T1.Mountain_ID = T2.Mountain_ID -- best climbers",
    "SELECT Name FROM climber;",
    "SELECT 'DROP TABLE climber; DELETE' AS text_that_looks_scary",
]

DB_ID = "climbing"


def refused_everywhere(db: Database) -> list[str]:
    """Statements the gate let through (should be none)."""
    passed = []
    for sql in HOSTILE:
        try:
            db.execute_readonly(sql, timeout_s=2.0)
        except UnsafeSQLError:
            continue
        except Exception as err:
            passed.append(f"{sql!r} passed the gate (then failed: {err})")
            continue
        passed.append(f"{sql!r} passed the gate and ran")
    return passed


# -- the gate alone -------------------------------------------------------------------------------
@pytest.mark.parametrize("sql", HOSTILE)
@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "duckdb"])
def test_gate_refuses(sql, dialect):
    with pytest.raises(UnsafeSQLError) as info:
        check_readonly(sql, dialect)
    assert info.value.reason and str(info.value).startswith("refused:")


@pytest.mark.parametrize("sql", BENIGN)
def test_gate_accepts_read_queries(sql):
    check_readonly(sql, "sqlite")


def test_gate_reasons_are_clear():
    cases = {
        "DELETE FROM t": "only read queries",
        "SELECT 1; SELECT 2": "exactly one statement",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d": "DELETE is not allowed",
        "SELECT * INTO t2 FROM t": "SELECT ... INTO",
        "SELECT * FROM t FOR UPDATE": "FOR UPDATE",
        "SELECT load_extension('x')": "load_extension()",
        "SELECT 1 /* ; DROP TABLE t */": "comment",
        "SELECT FROM WHERE (": "could not parse",
    }
    for sql, phrase in cases.items():
        with pytest.raises(UnsafeSQLError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
            check_readonly(sql, "postgres")
    # pg_sleep is allowed: it changes nothing and the statement timeout bounds it
    check_readonly("SELECT pg_sleep(1)", "postgres")


# -- SQLite ---------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_db(spider_dir, tmp_path):
    path = writable_copy(spider_dir, DB_ID, tmp_path)
    with Database(path) as db:
        yield path, db


def test_sqlite_refuses_all_and_is_unchanged(sqlite_db):
    path, db = sqlite_db
    before = sqlite_checksum(path)
    assert refused_everywhere(db) == []
    assert sqlite_checksum(path) == before
    assert not (path.parent / "sqlora_evil.db").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO climber VALUES (99, 'x', 'y', 'z', 1.0, 1)",
        "UPDATE climber SET Points = 0",
        "DELETE FROM climber",
        "DROP TABLE climber",
        "CREATE TABLE evil (a int)",
        "CREATE INDEX evil_idx ON climber (Name)",
        "WITH d AS (SELECT 1) DELETE FROM climber",
    ],
)
def test_sqlite_readonly_layer_blocks_writes_without_the_gate(sqlite_db, sql):
    path, db = sqlite_db
    before = sqlite_checksum(path)
    with pytest.raises(QueryError, match="readonly|read-only|query_only"):
        db.execute_unchecked(sql)
    assert sqlite_checksum(path) == before


def test_sqlite_readonly_layer_survives_pragma_off(sqlite_db):
    path, db = sqlite_db
    before = sqlite_checksum(path)
    db.execute_unchecked("PRAGMA query_only = OFF")  # the file itself is still opened mode=ro
    with pytest.raises(QueryError):
        db.execute_unchecked("DELETE FROM climber")
    with pytest.raises(QueryError):  # and sqlite3 runs one statement at a time
        db.execute_unchecked("SELECT 1; DELETE FROM climber")
    assert sqlite_checksum(path) == before


def test_sqlite_timeout_stops_runaway_query(sqlite_db):
    _, db = sqlite_db
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c"
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        db.execute_readonly(sql, timeout_s=0.5)
    assert time.monotonic() - started < 3
    assert db.execute_readonly("SELECT count(*) FROM climber").rows == [(10,)]  # usable afterwards


def test_sqlite_row_cap(sqlite_db):
    _, db = sqlite_db
    capped = db.execute_readonly("SELECT * FROM climber", max_rows=3)
    assert len(capped.rows) == 3 and capped.truncated
    assert capped.columns == ["Climber_ID", "Name", "Country", "Time", "Points", "Mountain_ID"]
    full = db.execute_readonly("SELECT * FROM climber", max_rows=10)
    assert len(full.rows) == 10 and not full.truncated
    assert full.elapsed_s >= 0


# -- DuckDB ---------------------------------------------------------------------------------------
@pytest.fixture
def duck_db(spider_dir, tmp_path):
    import duckdb

    path = tmp_path / "climbing.duckdb"
    conn = duckdb.connect(str(path))
    load_into("duckdb", conn, sqlite_tables(spider_sqlite(spider_dir, DB_ID)))
    conn.close()
    with Database(f"duckdb:///{path}") as db:
        yield db


def test_duckdb_readonly_layer_and_timeout(duck_db):
    assert refused_everywhere(duck_db) == []
    for sql in ("DELETE FROM climber", "CREATE TABLE evil (a int)", "COPY climber TO '/tmp/sqlora_evil.csv'"):
        with pytest.raises(QueryError):
            duck_db.execute_unchecked(sql)
    with pytest.raises(QueryError, match="one statement"):
        duck_db.execute_unchecked("SELECT 1; SELECT 2")
    assert duck_db.execute_readonly("SELECT count(*) FROM climber").rows == [(10,)]
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        duck_db.execute_readonly(
            "SELECT sum(a.range * b.range % 7) FROM range(200000) a, range(200000) b", timeout_s=0.5
        )
    assert time.monotonic() - started < 5


# -- PostgreSQL -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_db(spider_dir, pg_schema):
    conn = pg_connect()
    load_into("postgres", conn, sqlite_tables(spider_sqlite(spider_dir, DB_ID)), schema=pg_schema)
    conn.close()
    with Database(PG_URL, schema=pg_schema) as db:
        yield pg_schema, db


@pytest.mark.postgres
def test_postgres_refuses_all_and_is_unchanged(pg_db):
    schema, db = pg_db
    before = pg_checksum(schema)
    assert refused_everywhere(db) == []
    assert pg_checksum(schema) == before


@pytest.mark.postgres
def test_postgres_readonly_layer_blocks_writes_without_the_gate(pg_db):
    schema, db = pg_db
    before = pg_checksum(schema)
    for sql in (
        "INSERT INTO climber (climber_id) VALUES (99)",
        "UPDATE climber SET points = 0",
        "DELETE FROM climber",
        "DROP TABLE climber",
        "CREATE TABLE evil (a int)",
        "WITH d AS (DELETE FROM climber RETURNING *) SELECT * FROM d",
        "SELECT 1; DROP TABLE climber",
        "COMMIT; DROP TABLE climber",
    ):
        with pytest.raises(QueryError):
            db.execute_unchecked(sql)
    assert pg_checksum(schema) == before


@pytest.mark.postgres
def test_postgres_timeout_and_row_cap(pg_db):
    _, db = pg_db
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        db.execute_readonly("SELECT pg_sleep(5)", timeout_s=1.0)
    assert time.monotonic() - started < 3
    capped = db.execute_readonly("SELECT * FROM climber ORDER BY climber_id", max_rows=4)
    assert len(capped.rows) == 4 and capped.truncated
    assert db.execute_readonly("SELECT count(*) FROM climber").rows == [(10,)]


# -- MariaDB --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def maria_db(spider_dir, mariadb_database):
    conn = mariadb_connect(mariadb_database)
    load_into("mysql", conn, sqlite_tables(spider_sqlite(spider_dir, DB_ID)))
    conn.close()
    with Database(MARIADB_URL.replace("/test", f"/{mariadb_database}")) as db:
        yield mariadb_database, db


@pytest.mark.mariadb
def test_mariadb_refuses_all_and_is_unchanged(maria_db):
    name, db = maria_db
    before = mariadb_checksum(name)
    assert refused_everywhere(db) == []
    assert mariadb_checksum(name) == before


@pytest.mark.mariadb
def test_mariadb_readonly_layer_blocks_writes_without_the_gate(maria_db):
    name, db = maria_db
    before = mariadb_checksum(name)
    for sql in (
        "INSERT INTO climber (climber_id) VALUES (99)",
        "UPDATE climber SET points = 0",
        "DELETE FROM climber",
        "DROP TABLE climber",  # DDL would commit implicitly; the session is read-only too
        "CREATE TABLE evil (a int)",
        "TRUNCATE TABLE climber",
        "SELECT 1; DROP TABLE climber",
    ):
        with pytest.raises(QueryError):
            db.execute_unchecked(sql)
    assert mariadb_checksum(name) == before


@pytest.mark.mariadb
def test_mariadb_timeout_and_row_cap(maria_db):
    _, db = maria_db
    # (MariaDB stops recursive CTEs after max_recursive_iterations=1000, so sleep instead)
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        db.execute_readonly("SELECT SLEEP(5)", timeout_s=1.0)
    assert time.monotonic() - started < 4
    capped = db.execute_readonly("SELECT * FROM climber ORDER BY climber_id", max_rows=4)
    assert len(capped.rows) == 4 and capped.truncated
    assert db.execute_readonly("SELECT count(*) FROM climber").rows == [(10,)]
