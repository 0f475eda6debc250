"""Database: opening by URL, schema reflection, schema context (sample values, pruning), read-only queries."""

from __future__ import annotations

import warnings

import pytest
from db_fixtures import MARIADB_URL, PG_URL, load_into, mariadb_connect, pg_connect, spider_sqlite, sqlite_tables

from sqlora.db import Database, DatabaseError, QueryError, UnsafeSQLError
from sqlora.db.sqlite import sqlite_schema_context
from sqlora.sql.schema import parse_schema


@pytest.fixture
def climbing(spider_dir):
    with Database(spider_sqlite(spider_dir, "climbing")) as db:
        yield db


def test_open_sqlite_by_path_and_url(spider_dir, climbing):
    path = spider_sqlite(spider_dir, "climbing")
    assert climbing.dialect == "sqlite" and climbing.name == "climbing"
    with Database(f"sqlite:///{path}") as db:
        assert [t.name for t in db.tables()] == ["mountain", "climber"]
    with pytest.raises(DatabaseError, match="no SQLite database file"):
        Database("sqlite:////nonexistent/x.sqlite")
    with pytest.raises(DatabaseError, match="in-memory"):
        Database("duckdb:///:memory:")


def test_a_foreign_key_declared_in_another_case_is_read_without_a_warning(spider_dir):
    # loan_1 declares loan.cust_ID REFERENCES customer(Cust_ID) with the column spelled cust_ID
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with Database(spider_sqlite(spider_dir, "loan_1")) as db:
            keys = db.foreign_keys()
    assert ("loan", ("cust_ID",), "customer") in {(fk.table, fk.columns, fk.ref_table) for fk in keys}


def test_tables_and_foreign_keys(climbing):
    mountain, climber = climbing.tables()
    assert mountain.column_names == ["Mountain_ID", "Name", "Height", "Prominence", "Range", "Country"]
    assert ("Points", "REAL") in climber.columns
    fk = climbing.foreign_keys()[0]
    assert (fk.table, fk.columns, fk.ref_table, fk.ref_columns) == (
        "climber",
        ("Mountain_ID",),
        "mountain",
        ("Mountain_ID",),
    )
    assert climbing.primary_key("climber") == ["Climber_ID"]


def test_schema_context_matches_dataset_style(spider_dir, climbing):
    path = spider_sqlite(spider_dir, "climbing")
    context = climbing.schema_context()
    assert context == sqlite_schema_context(path)
    assert [t.name for t in parse_schema(context)] == ["mountain", "climber"]


def test_schema_context_with_sample_values(climbing):
    context = climbing.schema_context(sample_values=2)
    create, *samples = context.split("\n")
    assert create == climbing.schema_context()
    assert samples[0].startswith("-- mountain: ") and samples[1].startswith("-- climber: ")
    assert "Country 'West Germany', " in samples[1]  # most frequent first
    assert "Climber_ID" not in samples[1]  # key columns skipped
    assert len(parse_schema(context)) == 2  # still parses: samples are comments


def test_schema_context_pruned_by_question(spider_dir):
    with Database(spider_sqlite(spider_dir, "college_2")) as db:
        assert len(db.tables()) == 11
        pruned = parse_schema(db.schema_context(question="How many students are in each department?"))
        assert {t.name for t in pruned} == {"student", "department"}  # linked directly by a foreign key
        taught = parse_schema(db.schema_context(question="Which instructors teach in the Taylor building?"))
        assert {"instructor", "teaches"} <= {t.name for t in taught} and len(taught) <= 3
        whole = {t.name: t.column_names for t in db.tables()}
        assert all(set(t.column_names) <= set(whole[t.name]) for t in taught)
    with Database(spider_sqlite(spider_dir, "climbing")) as small:
        linked = parse_schema(small.schema_context(question="Which mountains are in the Kilimanjaro range?"))
        assert [t.name for t in linked] == ["mountain"]  # climber's Mountain_ID refers to it, not a reason to keep
        assert "Range" in linked[0].column_names  # it holds 'Kilimanjaro'


def test_execute_readonly_result(climbing):
    result = climbing.execute_readonly("SELECT Name, Height FROM mountain ORDER BY Height DESC", max_rows=2)
    assert result.columns == ["Name", "Height"]
    assert result.rows == [("Kibo (Uhuru Pk)", 5895.0), ("Mount Kenya (Batian)", 5199.0)]
    assert result.truncated and result.to_dict()["truncated"]
    with pytest.raises(QueryError, match="no such column"):
        climbing.execute_readonly("SELECT nope FROM mountain")
    with pytest.raises(UnsafeSQLError):
        climbing.execute_readonly("UPDATE mountain SET Height = 0")


@pytest.mark.postgres
def test_postgres_reflection_and_context(spider_dir, pg_schema):
    conn = pg_connect()
    load_into("postgres", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")), schema=pg_schema)
    conn.execute(f"ALTER TABLE {pg_schema}.mountain ADD PRIMARY KEY (mountain_id)")
    conn.execute(f"ALTER TABLE {pg_schema}.climber ADD FOREIGN KEY (mountain_id) REFERENCES {pg_schema}.mountain")
    conn.close()
    with Database(PG_URL, schema=pg_schema) as db:
        assert db.dialect == "postgres"
        assert {t.name for t in db.tables()} == {"climber", "mountain"}
        assert db.foreign_keys()[0].ref_table == "mountain"
        assert "CREATE TABLE climber (climber_id BIGINT, name TEXT" in db.schema_context()
        assert "-- climber: name" in db.schema_context(sample_values=1)
        assert db.execute_readonly("SELECT count(*) FROM climber").rows == [(10,)]


@pytest.mark.mariadb
def test_mariadb_reflection(spider_dir, mariadb_database):
    conn = mariadb_connect(mariadb_database)
    load_into("mysql", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")))
    conn.close()
    with Database(MARIADB_URL.replace("/test", f"/{mariadb_database}")) as db:
        assert db.dialect == "mysql"
        assert {t.name for t in db.tables()} == {"climber", "mountain"}
        assert "`range`" not in db.schema_context() and "range VARCHAR(255)" in db.schema_context()
        assert db.execute_readonly("SELECT max(height) FROM mountain").rows == [(5895.0,)]
