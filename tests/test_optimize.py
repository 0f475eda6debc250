"""optimize_hints: plan-based CREATE INDEX suggestions that go away once the index exists, static hints, rewrite."""

from __future__ import annotations

import sqlite3

import pytest
from db_fixtures import (
    MARIADB_URL,
    PG_URL,
    load_into,
    mariadb_connect,
    pg_connect,
    spider_sqlite,
    sqlite_tables,
    writable_copy,
)

from sqlora.db import Database, UnsafeSQLError
from sqlora.db.optimize import optimize_hints

FILTER = "SELECT Name FROM climber WHERE Country = 'West Germany' LIMIT 5"
JOIN = (
    "SELECT T1.Name, T2.Name FROM climber AS T1 JOIN mountain AS T2 ON T1.Mountain_ID = T2.Mountain_ID "
    "WHERE T2.Height > 5000 LIMIT 10"
)


@pytest.fixture
def climbing(spider_dir, tmp_path):
    path = writable_copy(spider_dir, "climbing", tmp_path)
    with Database(path) as db:
        yield path, db


def test_sqlite_full_scan_suggests_index_then_hint_disappears(climbing):
    path, db = climbing
    report = optimize_hints(FILTER, db)
    assert report.plan == ["SCAN climber"]
    assert report.full_scans == ["climber"]
    assert report.index_statements == ["CREATE INDEX idx_climber_country ON climber (Country);"]
    assert "full_scan" in report.kinds and "unbounded" not in report.kinds and "select_star" not in report.kinds
    with sqlite3.connect(path) as conn:  # the user follows the advice (outside sqlora, which never writes)
        conn.execute(report.index_statements[0])
    after = optimize_hints(FILTER, db)
    assert "full_scan" not in after.kinds and after.index_statements == []
    assert any("USING INDEX idx_climber_country" in line for line in after.plan)


def test_sqlite_join_key_without_index(climbing):
    path, db = climbing
    report = optimize_hints(JOIN, db)
    assert "CREATE INDEX idx_climber_mountain_id ON climber (Mountain_ID);" in report.index_statements
    hint = next(h for h in report.hints if h.kind == "join_index")
    assert hint.table == "climber" and hint.columns == ["Mountain_ID"]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE INDEX idx_climber_mountain_id ON climber (Mountain_ID)")
    assert "join_index" not in optimize_hints(JOIN, db).kinds


def test_static_hints(climbing):
    _, db = climbing
    kinds = optimize_hints("SELECT * FROM climber", db).kinds
    assert "select_star" in kinds and "unbounded" in kinds
    assert "unbounded" not in optimize_hints("SELECT Country, count(*) FROM climber GROUP BY Country", db).kinds
    report = optimize_hints(
        "SELECT Name FROM climber WHERE lower(Name) = 'x' OR Name LIKE '%er' OR Points > 3 LIMIT 3", db
    )
    assert {"non_sargable", "leading_wildcard", "or_across_columns"} <= set(report.kinds)
    assert "full_scan" not in report.kinds  # predicates under OR cannot use one index
    assert "order_by_random" in optimize_hints("SELECT Name FROM climber ORDER BY random() LIMIT 1", db).kinds


def test_primary_key_lookup_needs_no_index(climbing):
    _, db = climbing
    report = optimize_hints("SELECT Name FROM climber WHERE Climber_ID = 3", db)
    assert report.full_scans == [] and report.index_statements == []


def test_optimized_rewrite_is_offered_and_valid(climbing):
    _, db = climbing
    report = optimize_hints(
        "SELECT Name FROM (SELECT * FROM climber WHERE Points > 5) AS s WHERE s.Country = 'x' LIMIT 3", db
    )
    assert report.optimized_sql and "SELECT *" not in report.optimized_sql
    assert db.execute_readonly(report.optimized_sql).columns  # runs and passes the gate
    assert report.to_dict()["hints"]


def test_refuses_non_read_sql(climbing):
    _, db = climbing
    with pytest.raises(UnsafeSQLError):
        optimize_hints("DELETE FROM climber", db)
    with pytest.raises(UnsafeSQLError):
        optimize_hints("SELECT 1; DROP TABLE climber", db)


def test_duckdb_plan_without_index_advice(spider_dir, tmp_path):
    import duckdb

    path = tmp_path / "c.duckdb"
    conn = duckdb.connect(str(path))
    load_into("duckdb", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")))
    conn.close()
    with Database(f"duckdb:///{path}") as db:
        report = optimize_hints("SELECT name FROM climber WHERE country = 'x'", db)
        assert report.plan and report.index_statements == []


@pytest.mark.postgres
def test_postgres_suggests_index_until_it_exists(spider_dir, pg_schema):
    conn = pg_connect()
    load_into("postgres", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")), schema=pg_schema)
    with Database(PG_URL, schema=pg_schema) as db:
        sql = "SELECT name FROM climber WHERE country = 'West Germany' LIMIT 5"
        report = optimize_hints(sql, db)
        assert any("Seq Scan on climber" in line for line in report.plan), report.plan
        assert report.index_statements == ["CREATE INDEX idx_climber_country ON climber (country);"]
        conn.execute(f"SET search_path TO {pg_schema}")
        conn.execute(report.index_statements[0])
        assert optimize_hints(sql, db).index_statements == []  # (tiny table: PG may still seq-scan; no repeat advice)
    conn.close()


@pytest.mark.mariadb
def test_mariadb_suggests_index_until_it_exists(spider_dir, mariadb_database):
    conn = mariadb_connect(mariadb_database)
    load_into("mysql", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")))
    with Database(MARIADB_URL.replace("/test", f"/{mariadb_database}")) as db:
        report = optimize_hints(JOIN.replace("Mountain_ID", "mountain_id"), db)
        assert "CREATE INDEX idx_climber_mountain_id ON climber (mountain_id);" in report.index_statements
        conn.cursor().execute("CREATE INDEX idx_climber_mountain_id ON climber (mountain_id)")
        assert "join_index" not in optimize_hints(JOIN, db).kinds or all(
            h.table != "climber" for h in optimize_hints(JOIN, db).hints if h.kind == "join_index"
        )
    conn.close()
