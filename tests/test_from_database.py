"""Pairs made from a user's own database: every SQL runs and returns data, values are real, questions read well."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter

import pytest
import sqlglot
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

from sqlora.data.from_database import examples_from_database
from sqlora.db import Database
from sqlora.sql.schema import parse_schema
from sqlora.synth import FAMILIES, generate_pairs
from sqlora.synth.generate import result_digest, shape
from sqlora.synth.phrasing import attribute, humanize, noun


def _check_pairs_run(path, pairs) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # checked independently of sqlora
    try:
        for pair in pairs:
            rows = conn.execute(pair.sql).fetchall()
            assert rows and any(v is not None for row in rows for v in row), pair
    finally:
        conn.close()


@pytest.fixture(scope="module")
def invoices(spider_dir):
    path = spider_sqlite(spider_dir, "customers_and_invoices")
    with Database(path) as db:
        return path, generate_pairs(db, seed=0)


def test_every_pair_executes_and_every_family_is_covered(invoices):
    path, pairs = invoices
    _check_pairs_run(path, pairs)
    assert set(Counter(p.family for p in pairs)) == set(FAMILIES)
    assert len(pairs) >= 200


def test_pairs_are_deduplicated(invoices):
    path, pairs = invoices
    assert len({p.sql for p in pairs}) == len(pairs) and len({p.question for p in pairs}) == len(pairs)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    keys = {(shape(sqlglot.parse_one(p.sql)), result_digest(conn.execute(p.sql).fetchall())) for p in pairs}
    conn.close()
    assert len(keys) == len(pairs)


def test_deterministic_by_seed_and_max_pairs(spider_dir):
    path = spider_sqlite(spider_dir, "climbing")
    with Database(path) as db:
        first, again, other = generate_pairs(db, seed=1), generate_pairs(db, seed=1), generate_pairs(db, seed=2)
        small = generate_pairs(db, seed=1, max_pairs=20)
    assert first == again
    assert [p.question for p in first] != [p.question for p in other]
    assert len(small) == 20 and len({p.family for p in small}) >= 15  # round-robin over families


def test_specific_pairs_on_climbing(spider_dir):
    with Database(spider_sqlite(spider_dir, "climbing")) as db:
        sqls = {p.sql: p.question for p in generate_pairs(db, seed=0)}
    assert "SELECT COUNT(*) FROM climber" in sqls
    assert "SELECT Name FROM climber WHERE Country = 'West Germany'" in sqls  # the most frequent real value
    assert 'SELECT "Range", COUNT(*) FROM mountain GROUP BY "Range"' in sqls
    assert sqls["SELECT Name FROM climber WHERE Country = 'West Germany'"] in {
        "What are the names of the climbers whose country is West Germany?",
        "List the names of climbers with country West Germany.",
        "Show the name of each climber whose country is West Germany.",
        "Which climbers have country West Germany? Give their names.",
    }
    assert "NULLS" not in " ".join(sqls)  # ORDER BY in SQLite's own NULL order, written as a person would


def test_database_unchanged(spider_dir, tmp_path):
    path = writable_copy(spider_dir, "college_2", tmp_path)
    before = sqlite_checksum(path)
    with Database(path) as db:
        examples = examples_from_database(db, max_pairs=300)
    assert len(examples) >= 100 and sqlite_checksum(path) == before
    full = set(re.findall(r"CREATE TABLE (\w+)", Database(path).schema_context()))
    for ex in examples:  # what the question is about, plus every table and column the SQL uses; never everything
        tables = re.findall(r"CREATE TABLE (\w+)", ex.context)
        assert tables and set(tables) < full
        used = {t.name for t in sqlglot.parse_one(ex.sql).find_all(sqlglot.exp.Table)}
        assert used <= set(tables), ex
        given = {c.lower() for t in parse_schema(ex.context) for c in t.column_names}
        assert {c.name.lower() for c in sqlglot.parse_one(ex.sql).find_all(sqlglot.exp.Column)} <= given, ex
        assert ex.db_id == "college_2" and ex.db_path == str(path)


@pytest.mark.parametrize(
    ("identifier", "table", "words"),
    [
        ("ordered_at", None, "order time"),
        ("order_date", None, "order date"),
        ("created_at", None, "creation time"),
        ("Mountain_ID", None, "mountain ID"),
        ("customer_name", "customers", "name"),
        ("customer_id", "customers", "customer ID"),
        ("firstName", None, "first name"),
        ("dept_name", None, "department name"),
        ("Num_of_Ticket", None, "number of tickets"),
        ("end_min", None, "end minute"),
        ("min_salary", None, "minimum salary"),
        ("tot_cred", None, "total credits"),
    ],
)
def test_humanize(identifier, table, words):
    assert humanize(identifier, table) == words


def test_plurals_and_agreement():
    assert (noun("products").one, noun("products").many) == ("product", "products")
    assert (noun("people").one, noun("people").many) == ("person", "people")
    assert (noun("Order_Items").one, noun("Order_Items").many) == ("order item", "order items")
    assert (noun("status").one, noun("status").many) == ("status", "statuses")
    assert (noun("campus").one, noun("bus").many) == ("campus", "buses")
    assert noun("staff").many == "staff" and noun("city").many == "cities"
    assert attribute("ordered_at").many == "order times" and attribute("Hours").be == "are"
    assert attribute("status").be == "is" and attribute("Hours").amount("average") == "average number of hours"
    assert noun("climber").count(1) == "1 climber" and noun("climber").count(3) == "3 climbers"
    assert attribute("date_account_opened").many == "account opening dates"  # never "date account openeds"
    assert noun("takes").many == "takes records" and noun("Trained_In").one == '"trained in" record'
    assert attribute("other_account_details").having("VIP") == "whose other account details are VIP"
    assert attribute("other_account_details").each == "each value of other account details"


def test_guessed_keys_and_readable_questions(tmp_path):
    """No declared foreign keys: orders.customer_id -> customers.id is guessed; names read as words."""
    path = tmp_path / "shop.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_name TEXT, city TEXT);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER, total REAL, ordered_at TEXT, status TEXT);"
    )
    cities = ["Paris", "Lyon", "Nice"]
    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?)", [(i, f"Client {i}", cities[i % 3]) for i in range(1, 13)]
    )
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
        [(i, i % 9 + 1, 10.5 * i, f"2024-0{i % 9 + 1}-1{i % 10} 10:00", ["open", "paid"][i % 2]) for i in range(1, 40)],
    )
    conn.commit()
    conn.close()
    with Database(path) as db:
        pairs = generate_pairs(db, seed=0)
    joins = [p for p in pairs if " JOIN " in p.sql]
    assert joins and all("T1.customer_id = T2.id" in p.sql for p in joins)
    questions = " ".join(p.question for p in pairs)
    assert "order time" in questions and "ordered at" not in questions
    assert "_" not in questions and "customerss" not in questions and "orderss" not in questions
    assert any(p.question.startswith("How many orders does each customer have") for p in pairs) or any(
        "number of orders" in p.question for p in pairs
    )
    _check_pairs_run(path, pairs)


def test_empty_database_is_a_clear_error(tmp_path):
    from typer.testing import CliRunner

    from sqlora.cli.main import app

    path = tmp_path / "empty.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a INTEGER)")
    conn.close()
    result = CliRunner().invoke(app, ["data", "from-db", "--db", f"sqlite:///{path}", "--output", str(tmp_path / "x")])
    assert result.exit_code != 0 and "error:" in result.output and "empty" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.postgres
def test_pairs_on_postgres(spider_dir, pg_schema):
    conn = pg_connect()
    load_into("postgres", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")), schema=pg_schema)
    conn.close()
    before = pg_checksum(pg_schema)
    with Database(PG_URL, schema=pg_schema) as db:
        examples = examples_from_database(db)
        assert len(examples) >= 60
        for ex in examples:
            assert db.execute_readonly(ex.sql).rows
        assert ex.db_path is None  # never store server URLs (credentials) in data files
        assert any(" JOIN " in ex.sql for ex in examples)  # likely key mountain_id, no FK declared
    assert pg_checksum(pg_schema) == before


@pytest.mark.mariadb
def test_pairs_on_mariadb(spider_dir, mariadb_database):
    conn = mariadb_connect(mariadb_database)
    load_into("mysql", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")))
    conn.close()
    before = mariadb_checksum(mariadb_database)
    url = MARIADB_URL.rsplit("/", 1)[0] + f"/{mariadb_database}"
    with Database(url) as db:
        pairs = generate_pairs(db, seed=0)
        assert len(pairs) >= 60 and {"set_operation", "nested", "join"} <= {p.family for p in pairs}
        for pair in pairs:
            assert db.execute_readonly(pair.sql).rows
    assert mariadb_checksum(mariadb_database) == before


def test_cli_from_db(spider_dir, tmp_path):
    from typer.testing import CliRunner

    from sqlora.cli.main import app
    from sqlora.data.loaders import load_examples

    out = tmp_path / "pairs.jsonl"
    path = spider_sqlite(spider_dir, "climbing")
    args = ["data", "from-db", "--db", f"sqlite:///{path}", "--output", str(out), "--max-pairs", "50", "--seed", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 50 and set(rows[0]) == {"question", "context", "answer", "db_id"}
    loaded = load_examples(out)
    assert len(loaded.examples) == 50 and not loaded.errors


def test_pairs_on_duckdb(spider_dir, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "climbing.duckdb"
    conn = duckdb.connect(str(path))
    load_into("duckdb", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")))
    conn.close()
    with Database(f"duckdb:///{path}") as db:
        pairs = generate_pairs(db, seed=0)
        assert len(pairs) >= 60 and {"join", "set_operation", "having"} <= {p.family for p in pairs}
        for pair in pairs:
            assert db.execute_readonly(pair.sql).rows
