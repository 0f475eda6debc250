"""The same data in SQLite, PostgreSQL, MariaDB and DuckDB: transpiled SQLite queries give SQLite's results."""

from __future__ import annotations

from decimal import Decimal

import pytest
from db_fixtures import MARIADB_URL, PG_URL, load_into, mariadb_connect, pg_connect, spider_sqlite, sqlite_tables

from sqlora.db import Database
from sqlora.sql.dialects import SUPPORTED_DIALECTS, DialectError, dialect_for_url, normalize_dialect, transpile

DB_ID = "climbing"  # mountain(Mountain_ID, Name, Height, Prominence, Range, Country), climber(..., Points, Mountain_ID)

QUERIES = [
    "SELECT count(*) FROM climber",
    "SELECT Name FROM climber ORDER BY Points DESC, Name LIMIT 3",
    "SELECT Country, count(*) FROM climber GROUP BY Country",
    "SELECT Country FROM climber GROUP BY Country HAVING count(*) > 1",
    "SELECT T1.Name, T2.Name FROM climber AS T1 JOIN mountain AS T2 ON T1.Mountain_ID = T2.Mountain_ID",
    "SELECT Name FROM mountain WHERE Mountain_ID NOT IN (SELECT Mountain_ID FROM climber)",
    "SELECT Name FROM mountain WHERE Height > (SELECT avg(Height) FROM mountain)",
    "SELECT upper(Name), lower(Country), length(Name) FROM mountain",
    "SELECT Name FROM climber WHERE Name LIKE '%er%'",
    "SELECT CASE WHEN Height > 5000 THEN 'high' ELSE 'low' END AS band, count(*) FROM mountain GROUP BY band",
    "SELECT max(Points), min(Points), round(avg(Points), 2), sum(Points) FROM climber",
    "SELECT Country FROM mountain UNION SELECT Country FROM climber",
    "SELECT Name FROM mountain WHERE Country = 'Tanzania' AND Height BETWEEN 4000 AND 6000",
    "SELECT T2.Range, count(*) FROM climber AS T1 JOIN mountain AS T2 ON T1.Mountain_ID = T2.Mountain_ID "
    "GROUP BY T2.Range ORDER BY count(*) DESC",
    "SELECT Name || ' (' || Country || ')' FROM mountain",
    "SELECT substr(Name, 1, 4) FROM climber",
    "SELECT count(DISTINCT Country) FROM climber",
    'SELECT Name FROM climber WHERE Country = "West Germany"',
    "SELECT DISTINCT T1.Country FROM climber AS T1 WHERE EXISTS "
    "(SELECT 1 FROM mountain AS T2 WHERE T2.Mountain_ID = T1.Mountain_ID AND T2.Height > 5000)",
    "SELECT Country, count(*) FROM climber GROUP BY Country ORDER BY count(*) DESC, Country LIMIT 1",
    "SELECT Name FROM mountain WHERE Country IN ('Kenya', 'Uganda') OR Prominence < 200",
    "SELECT T2.Name, avg(T1.Points) FROM climber AS T1 LEFT JOIN mountain AS T2 ON T1.Mountain_ID = T2.Mountain_ID "
    "GROUP BY T2.Name",
]


def normalize(rows: list[tuple]) -> list[str]:
    """Rows as a sorted multiset; numbers compared as floats rounded to 4 places."""

    def cell(value):
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float | Decimal):
            return round(float(value), 4)
        return value

    return sorted(repr(tuple(cell(v) for v in row)) for row in rows)


@pytest.fixture(scope="module")
def source(spider_dir):
    return spider_sqlite(spider_dir, DB_ID)


@pytest.fixture(scope="module")
def expected(source) -> dict[str, list[str]]:
    with Database(source) as db:
        return {sql: normalize(db.execute_readonly(sql).rows) for sql in QUERIES}


def check_all(db: Database, expected: dict[str, list[str]]) -> None:
    failures = []
    for sql in QUERIES:
        target_sql = transpile(sql, to=db.dialect)
        try:
            got = normalize(db.execute_readonly(target_sql).rows)
        except Exception as err:  # report every query, not only the first failure
            failures.append(f"{sql}\n  -> {target_sql}\n  error: {err}")
            continue
        if got != expected[sql]:
            failures.append(f"{sql}\n  -> {target_sql}\n  got {got}\n  want {expected[sql]}")
    assert not failures, f"{len(failures)} of {len(QUERIES)} queries differ on {db.dialect}:\n" + "\n".join(failures)


def test_sqlite_baseline_returns_rows(expected):
    assert all(expected[sql] for sql in QUERIES), "every query returns rows on SQLite"


def test_duckdb_matches_sqlite(source, expected, tmp_path):
    import duckdb

    path = tmp_path / "climbing.duckdb"
    conn = duckdb.connect(str(path))
    load_into("duckdb", conn, sqlite_tables(source))
    conn.close()
    with Database(f"duckdb:///{path}") as db:
        assert db.dialect == "duckdb"
        check_all(db, expected)


@pytest.mark.postgres
def test_postgres_matches_sqlite(source, expected, pg_schema):
    conn = pg_connect()
    load_into("postgres", conn, sqlite_tables(source), schema=pg_schema)
    conn.close()
    with Database(PG_URL, schema=pg_schema) as db:
        assert db.dialect == "postgres"
        assert {t.name for t in db.tables()} == {"mountain", "climber"}
        check_all(db, expected)


@pytest.mark.mariadb
def test_mariadb_matches_sqlite(source, expected, mariadb_database):
    conn = mariadb_connect(mariadb_database)
    load_into("mysql", conn, sqlite_tables(source))
    conn.close()
    with Database(MARIADB_URL.replace("/test", f"/{mariadb_database}")) as db:
        assert db.dialect == "mysql"
        check_all(db, expected)


def test_transpile_examples():
    assert transpile("SELECT a FROM t LIMIT 3", to="tsql") == "SELECT TOP 3 a FROM t"
    assert transpile("SELECT a || b FROM t", to="mysql") == "SELECT CONCAT(a, b) FROM t"
    assert transpile('SELECT a FROM t WHERE b = "x"', to="postgres") == "SELECT a FROM t WHERE b = 'x'"
    # with the schema's columns, a quoted name that IS a column stays a column
    assert transpile('SELECT "a" FROM t WHERE "b" = "a"', to="postgres", columns={"a", "b"}) == (
        'SELECT "a" FROM t WHERE "b" = "a"'
    )
    assert transpile("SELECT 1; SELECT 2", to="duckdb") == "SELECT 1;\nSELECT 2"


@pytest.mark.parametrize("dialect", SUPPORTED_DIALECTS)
def test_every_dialect_transpiles_a_typical_query(dialect):
    out = transpile(
        "SELECT name, count(*) FROM singer WHERE age > 30 GROUP BY name ORDER BY 2 DESC LIMIT 5", to=dialect
    )
    assert out.strip()


def test_unknown_dialect_is_a_clear_error():
    with pytest.raises(DialectError, match="unknown dialect 'postgre'.*postgres"):
        transpile("SELECT 1", to="postgre")
    with pytest.raises(DialectError, match="cannot parse"):
        transpile("SELECT FROM WHERE (", to="postgres")


def test_aliases_and_urls():
    assert normalize_dialect("PostgreSQL") == "postgres"
    assert normalize_dialect("mariadb") == "mysql"
    assert normalize_dialect("mssql") == "tsql"
    assert dialect_for_url(PG_URL) == "postgres"
    assert dialect_for_url(MARIADB_URL) == "mysql"
    assert dialect_for_url("mariadb+pymysql://u@h/db") == "mysql"
    assert dialect_for_url("duckdb:///x.duckdb") == "duckdb"
    assert dialect_for_url("sqlite:///x.sqlite") == "sqlite"
    assert dialect_for_url("mssql+pyodbc://u@dsn") == "tsql"
    from sqlalchemy import create_engine

    assert dialect_for_url(create_engine("sqlite://")) == "sqlite"
    with pytest.raises(DialectError):
        dialect_for_url("not a url")
