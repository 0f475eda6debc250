"""``sqlora ask --db URL [--execute]`` on real SQLite, PostgreSQL and MariaDB databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from db_fixtures import (
    MARIADB_URL,
    PG_URL,
    load_into,
    mariadb_checksum,
    mariadb_connect,
    pg_checksum,
    pg_connect,
    sqlite_checksum,
    sqlite_tables,
    writable_copy,
)
from typer.testing import CliRunner

from sqlora.cli.main import app
from sqlora.inference.generator import SQLResult
from sqlora.inference.validation import validate_sql

DB_ID = "musical"
QUESTION = "How many musicals won an award after 1990?"


class ScriptedSQLNotAModel:
    """NOT a model: answers every question with one fixed SQL, validated against the schema as SQLGenerator does.

    It exercises what ``ask`` does around the model (schema from the database, validation, dialect rewrite,
    read-only execution, exit codes) with answers a small CPU model cannot be relied on to write.
    """

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.schemas: list[str] = []

    def generate(self, question: str, schema: str, values=None) -> SQLResult:
        self.schemas.append(schema)
        verdict = validate_sql(self.sql, schema)
        return SQLResult(self.sql, verdict.valid, verdict.errors)


@pytest.fixture
def scripted(monkeypatch):
    """Install a scripted answer for ``sqlora ask`` and return it."""

    def install(sql: str) -> ScriptedSQLNotAModel:
        generator = ScriptedSQLNotAModel(sql)
        monkeypatch.setattr("sqlora.cli.ask._generator", lambda *args, **kwargs: generator)
        return generator

    return install


def run(args: list[str]):
    return CliRunner().invoke(app, ["ask", *args])


@pytest.fixture
def musical(spider_dir, tmp_path):
    return writable_copy(spider_dir, DB_ID, tmp_path)


def expected_count(path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM musical WHERE Year > 1990 AND Result = 'Won'").fetchone()[0]


COUNT_SQL = "SELECT count(*) FROM musical WHERE Year > 1990 AND Result = 'Won'"


def test_sqlite_execute_json(musical, scripted):
    before = sqlite_checksum(musical)
    generator = scripted(COUNT_SQL)
    result = run(["--db", f"sqlite:///{musical}", "--execute", "--json", QUESTION])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["executed"] and report["valid"] and report["dialect"] == "sqlite"
    assert report["rows"] == [[expected_count(musical)]]
    assert "CREATE TABLE musical" in generator.schemas[0]  # the schema came from the database
    assert sqlite_checksum(musical) == before


def test_sqlite_table_on_stdout_and_plain_path(musical, scripted):
    scripted("SELECT Award FROM musical ORDER BY Award LIMIT 2")
    result = run(["--db", str(musical), "--execute", QUESTION])
    assert result.exit_code == 0, result.stderr
    assert "SELECT Award FROM musical" in result.stdout
    assert "Award" in result.stdout.splitlines()[2]  # the rich table's header, after the SQL and the top border
    assert "2 rows" in result.stderr and "2 rows" not in result.stdout


def test_question_linked_schema_on_a_large_database(spider_dir, tmp_path, scripted):
    path = writable_copy(spider_dir, "college_2", tmp_path)
    generator = scripted("SELECT count(*) FROM instructor")
    result = run(["--db", str(path), "--execute", "How many instructors are there?"])
    assert result.exit_code == 0, result.stderr
    full = CliRunner().invoke(app, ["schema", "--db", str(path)]).stdout
    assert "CREATE TABLE instructor" in generator.schemas[0]
    assert len(generator.schemas[0]) < len(full) / 2  # only the tables the question is about


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM musical", "not valid"),
        ("SELECT nosuch_column FROM musical", "not valid"),
        ("", "returned no SQL"),
        ("SELECT abs(-9223372036854775807 - 1) FROM musical", "query failed"),
    ],
)
def test_unusable_answers_exit_1_and_leave_the_database_alone(musical, scripted, sql, message):
    before = sqlite_checksum(musical)
    scripted(sql)
    result = run(["--db", str(musical), "--execute", QUESTION])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert sqlite_checksum(musical) == before


@pytest.mark.postgres
def test_postgres_execute(spider_dir, pg_schema, scripted):
    source = spider_dir / "database" / DB_ID / f"{DB_ID}.sqlite"
    with pg_connect() as conn:
        load_into("postgres", conn, sqlite_tables(source, ["musical"]), pg_schema)
    before = pg_checksum(pg_schema)
    scripted(COUNT_SQL)
    result = run(["--db", PG_URL, "--db-schema", pg_schema, "--execute", "--json", QUESTION])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dialect"] == "postgres" and report["executed"]
    assert report["rows"] == [[expected_count(source)]]
    assert pg_checksum(pg_schema) == before


@pytest.mark.mariadb
def test_mariadb_execute(spider_dir, mariadb_database, scripted):
    source = spider_dir / "database" / DB_ID / f"{DB_ID}.sqlite"
    conn = mariadb_connect(mariadb_database)
    try:
        load_into("mysql", conn, sqlite_tables(source, ["musical"]))
    finally:
        conn.close()
    before = mariadb_checksum(mariadb_database)
    scripted(COUNT_SQL)
    url = MARIADB_URL.rsplit("/", 1)[0] + f"/{mariadb_database}"
    result = run(["--db", url, "--execute", "--json", QUESTION])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dialect"] == "mysql" and report["executed"]
    assert report["rows"] == [[expected_count(source)]]
    assert mariadb_checksum(mariadb_database) == before


def test_tiny_model_in_a_real_process(musical, tiny_model_dir):
    """The whole path with a real (random, tiny) model in a subprocess: its SQL is garbage, so exit 1, one
    error line, no traceback, the database untouched."""
    before = sqlite_checksum(musical)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = ["--db", str(musical), "--execute", "--model", str(tiny_model_dir), "--max-new-tokens", "6", QUESTION]
    proc = subprocess.run(
        [sys.executable, "-m", "sqlora.cli.main", "ask", *args], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Loading weights" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
    assert sqlite_checksum(musical) == before


@pytest.mark.real_model
def test_embedded_model_exit_code_matches_its_answer(musical):
    """The embedded model on a real database: exit 0 exactly when its answer is valid and ran."""
    result = run(["--db", str(musical), "--execute", "--json", "--max-new-tokens", "32", QUESTION])
    report = json.loads(result.stdout)
    assert result.exit_code == (0 if report["valid"] and report["executed"] else 1)
    assert ("error:" in result.stderr) == (result.exit_code == 1)


def test_pasted_schema_with_the_tiny_model(tiny_model_dir):
    """``--schema`` still works: the tiny random model's answer is reported, and its exit code matches it."""
    schema = "CREATE TABLE singer (id INT, name TEXT, age INT)"
    args = ["--schema", schema, "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--json", "How many singers?"]
    result = run(args)
    report = json.loads(result.stdout)
    assert report["dialect"] == "sqlite" and not report["executed"]
    assert result.exit_code == (0 if report["valid"] else 1)
    assert ("error:" in result.stderr) == (not report["valid"])
