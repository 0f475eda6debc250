"""Pairs made from a user's own database: every SQL runs and returns rows, values are real, joins follow FKs."""

from __future__ import annotations

import json
import sqlite3

import pytest

from sqlora.data.from_database import examples_from_database, plural, words
from sqlora.db import Database

pytest.register_assert_rewrite("db_fixtures")
pytest_plugins = ["db_fixtures"]
from db_fixtures import PG_URL, _pg_connect, load_into, spider_sqlite, sqlite_tables  # noqa: E402


@pytest.mark.parametrize("db_id", ["climbing", "cinema", "college_2"])
def test_pairs_execute_and_return_rows(spider_dir, db_id):
    path = spider_sqlite(spider_dir, db_id)
    with Database(path) as db:
        examples = examples_from_database(db, limit_per_table=6)
        assert len(examples) >= 2 * len(db.tables())
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # checked independently of sqlora
        for ex in examples:
            rows = conn.execute(ex.sql).fetchall()
            assert rows and rows[0][0] is not None, ex
            assert ex.db_id == db_id and ex.context == db.schema_context() and ex.question.endswith(("?", "."))
        conn.close()
        assert len({e.question for e in examples}) == len(examples)
        per_table = {}
        for ex in examples:
            if " JOIN " not in ex.sql:
                table = ex.sql.split(" FROM ")[1].split()[0]
                per_table[table] = per_table.get(table, 0) + 1
        assert max(per_table.values()) <= 6


def test_specific_pairs_on_climbing(spider_dir):
    with Database(spider_sqlite(spider_dir, "climbing")) as db:
        pairs = {e.question: e.sql for e in examples_from_database(db)}
    assert pairs["How many climbers are there?"] == "SELECT COUNT(*) FROM climber"
    assert pairs["What are the names of the climbers whose country is West Germany?"] == (
        "SELECT Name FROM climber WHERE Country = 'West Germany'"
    )  # the most frequent real value
    assert (
        pairs["How many mountains are there for each range?"]
        == 'SELECT "Range", COUNT(*) FROM mountain GROUP BY "Range"'
    )
    assert pairs["Show the name of each climber and the name of its mountain."] == (
        "SELECT T1.Name, T2.Name FROM climber AS T1 JOIN mountain AS T2 ON T1.Mountain_ID = T2.Mountain_ID"
    )
    assert any(q.startswith("What is the maximum height") for q in pairs)


def test_words_and_plural():
    assert words("Mountain_ID") == "mountain id" and words("firstName") == "first name"
    assert plural("city") == "cities" and plural("match") == "matches" and plural("people") == "peoples"[:-1] + "s"


@pytest.mark.postgres
def test_pairs_on_postgres(spider_dir, pg_schema):
    conn = _pg_connect()
    load_into("postgres", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")), schema=pg_schema)
    conn.close()
    with Database(PG_URL, schema=pg_schema) as db:
        examples = examples_from_database(db)
        assert len(examples) >= 10
        for ex in examples:
            assert db.execute_readonly(ex.sql).rows
        assert ex.db_path is None  # never store server URLs (credentials) in data files


def test_cli_from_db(spider_dir, tmp_path):
    from typer.testing import CliRunner

    from sqlora.cli.main import app

    out = tmp_path / "pairs.jsonl"
    path = spider_sqlite(spider_dir, "climbing")
    result = CliRunner().invoke(app, ["data", "from-db", "--db", f"sqlite:///{path}", "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) >= 10 and {"question", "context", "sql", "db_id"} <= set(rows[0])
