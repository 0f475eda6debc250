"""Fuzz harness: every CLI command and every HTTP endpoint with a catalogue of bad inputs.

Each case must fail cleanly: a non-zero exit (4xx over HTTP), exactly one ``error:`` line on stderr naming the
problem (an ``error`` field over HTTP), no traceback, no 5xx, and the databases unchanged. Inputs are checked
before any model loads, so the CLI cases run in-process (typer's CliRunner) in seconds; a few run in a real
subprocess to prove stderr carries no traceback there either. The counts are reported in docs/cli.md.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from db_fixtures import spider_sqlite, sqlite_checksum
from typer.testing import CliRunner

from sqlora.cli.main import app

REFUSED_PG = "postgresql+psycopg://postgres@127.0.0.1:9/test"  # port 9 (discard): nothing listens, refused
MISSING_MARIADB = "mysql+pymysql://root@127.0.0.1:3306/sqlora_no_such_database"
GOOD_SCHEMA = "CREATE TABLE singer (id INT, name TEXT, age INT)"
OK_ROW = {"question": "How many singers?", "context": GOOD_SCHEMA, "sql": "SELECT count(*) FROM singer"}


@dataclass
class Case:
    """One bad input: the command line, what the error line must mention (any of), and the exit code."""

    args: list[str]
    expect: tuple[str, ...]
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)


def _cases() -> dict[str, Case]:
    """The catalogue; ``{name}`` placeholders are paths in the test workspace (see :func:`workspace`)."""
    c: dict[str, Case] = {}
    ok = ("--schema", GOOD_SCHEMA)
    # -- ask ---------------------------------------------------------------------------------------
    c["ask-no-schema-or-db"] = Case(["ask", "q"], ("--db",))
    c["ask-schema-words"] = Case(["ask", "--schema", "just words", "q"], ("not SQL DDL",))
    c["ask-schema-empty"] = Case(["ask", "--schema", "", "q"], ("empty",))
    c["ask-schema-select"] = Case(["ask", "--schema", "SELECT 1", "q"], ("not SQL DDL",))
    c["ask-schema-truncated"] = Case(["ask", "--schema", "CREATE TABLE", "q"], ("not SQL DDL",))
    c["ask-schema-hostile"] = Case(["ask", "--schema", GOOD_SCHEMA + "; DROP TABLE singer", "q"], ("not SQL DDL",))
    c["ask-schema-non-ascii"] = Case(["ask", "--schema", "élèves 学生 🎭", "q"], ("not SQL DDL", "parse"))
    c["ask-schema-huge"] = Case(["ask", "--schema", GOOD_SCHEMA + ";" * 250_000, "q"], ("too long",))
    c["ask-question-empty"] = Case(["ask", *ok, ""], ("question is empty",))
    c["ask-question-blank"] = Case(["ask", *ok, "   \n\t"], ("question is empty",))
    c["ask-question-huge"] = Case(["ask", *ok, "how many " * 1000], ("too long",))
    c["ask-question-missing"] = Case(["ask", *ok], ("missing argument",))
    c["ask-schema-and-db"] = Case(["ask", *ok, "--db", "{musical}", "q"], ("not both",))
    c["ask-execute-without-db"] = Case(["ask", *ok, "--execute", "q"], ("--execute needs --db",))
    c["ask-db-missing-file"] = Case(["ask", "--db", "{missing}.sqlite", "q"], ("cannot open database",))
    c["ask-db-binary-file"] = Case(["ask", "--db", "{binary_db}", "q"], ("cannot open database",))
    c["ask-db-csv-file"] = Case(["ask", "--db", "{wrong_cols_csv}", "q"], ("cannot open database",))
    c["ask-db-empty"] = Case(["ask", "--db", "{empty_db}", "q"], ("no tables",))
    c["ask-db-refused-port"] = Case(["ask", "--db", REFUSED_PG, "q"], ("cannot open database",))
    c["ask-db-missing-mariadb"] = Case(["ask", "--db", MISSING_MARIADB, "q"], ("cannot open database",))
    c["ask-db-bad-scheme"] = Case(["ask", "--db", "nosuchdb://x/y", "q"], ("cannot open database",))
    c["ask-db-url-garbage"] = Case(["ask", "--db", "postgresql://::::/", "q"], ("cannot open database",))
    c["ask-adapter-missing"] = Case(["ask", *ok, "--adapter", "{missing}", "q"], ("adapter directory not found",))
    c["ask-adapter-relative"] = Case(["ask", *ok, "--adapter", "runs/nope/adapter", "q"], ("adapter directory",))
    c["ask-adapter-hub-like"] = Case(["ask", *ok, "--adapter", "owner/adapter", "q"], ("adapter directory",))
    c["ask-adapter-file"] = Case(["ask", *ok, "--adapter", "{ok_jsonl}", "q"], ("not an adapter directory",))
    c["ask-adapter-empty-dir"] = Case(["ask", *ok, "--adapter", "{empty_dir}", "q"], ("not an adapter directory",))
    c["ask-model-missing-path"] = Case(["ask", *ok, "--model", "./models/nope", "q"], ("model directory not found",))
    c["ask-model-deep-path"] = Case(["ask", *ok, "--model", "a/b/c/d", "q"], ("model directory not found",))
    c["ask-model-empty-dir"] = Case(["ask", *ok, "--model", "{empty_dir}", "q"], ("not a model directory",))
    c["ask-prompt-style"] = Case(["ask", *ok, "--prompt-style", "bogus", "q"], ("--prompt-style",))
    c["ask-precision"] = Case(["ask", *ok, "--precision", "int3", "q"], ("--precision",))
    c["ask-max-rows"] = Case(["ask", "--db", "{musical}", "--execute", "--max-rows", "0", "q"], ("--max-rows",))
    c["ask-timeout"] = Case(["ask", "--db", "{musical}", "--execute", "--timeout", "-1", "q"], ("--timeout",))
    c["ask-max-new-tokens"] = Case(["ask", *ok, "--max-new-tokens", "0", "q"], ("--max-new-tokens",))
    c["ask-max-rows-not-int"] = Case(["ask", *ok, "--max-rows", "many", "q"], ("--max-rows",))
    c["ask-unknown-option"] = Case(["ask", *ok, "--bogus", "q"], ("no such option",))
    # -- eval ---------------------------------------------------------------------------------------
    c["eval-data-missing"] = Case(["eval", "--data", "{missing}.jsonl"], ("no such file",))
    c["eval-data-empty"] = Case(["eval", "--data", "{empty_jsonl}"], ("no rows",))
    c["eval-data-binary"] = Case(["eval", "--data", "{binary_jsonl}"], ("not UTF-8",))
    c["eval-data-bad-json"] = Case(["eval", "--data", "{bad_json}"], ("no rows",))
    c["eval-data-wrong-columns"] = Case(["eval", "--data", "{wrong_cols_csv}"], ("the file's columns are",))
    c["eval-data-not-spider-dir"] = Case(["eval", "--data", "{empty_dir}"], ("not a Spider folder",))
    c["eval-compare-no-adapter"] = Case(["eval", "--data", "{ok_jsonl}", "--compare"], ("--compare needs",))
    c["eval-adapter-missing"] = Case(["eval", "--data", "{ok_jsonl}", "--adapter", "{missing}"], ("adapter",))
    c["eval-compare-adapter-missing"] = Case(
        ["eval", "--data", "{ok_jsonl}", "--compare", "--adapter", "runs/missing"], ("adapter directory not found",)
    )
    c["eval-model-missing"] = Case(["eval", "--data", "{ok_jsonl}", "--model", "./nope"], ("model directory",))
    c["eval-prompt-style"] = Case(["eval", "--data", "{ok_jsonl}", "--prompt-style", "x"], ("--prompt-style",))
    c["eval-precision"] = Case(["eval", "--data", "{ok_jsonl}", "--precision", "q4"], ("--precision",))
    c["eval-limit-zero"] = Case(["eval", "--data", "{ok_jsonl}", "--limit", "0"], ("--limit",))
    c["eval-batch-size-text"] = Case(["eval", "--data", "{ok_jsonl}", "--batch-size", "lots"], ("--batch-size",))
    c["eval-spider-schema"] = Case(["eval", "--data", "{ok_jsonl}", "--spider-schema", "x"], ("Spider schema",))
    c["eval-holdout-unknown"] = Case(["eval", "--data", "{ok_jsonl}", "--holdout-dbs", "nope"], ("no rows",))
    c["eval-timeout-zero"] = Case(["eval", "--data", "{ok_jsonl}", "--timeout", "0"], ("--timeout",))
    c["eval-data-option-missing"] = Case(["eval"], ("missing option",))
    # -- data stats ---------------------------------------------------------------------------------
    c["stats-missing"] = Case(["data", "stats", "{missing}.jsonl"], ("no such file",))
    c["stats-missing-non-ascii"] = Case(["data", "stats", "{tmp}/données_学生.jsonl"], ("no such file",))
    c["stats-empty-jsonl"] = Case(["data", "stats", "{empty_jsonl}"], ("no usable rows",))
    c["stats-empty-csv"] = Case(["data", "stats", "{empty_csv}"], ("no usable rows",))
    c["stats-blank-json"] = Case(["data", "stats", "{blank_json}"], ("no usable rows",))
    c["stats-empty-array"] = Case(["data", "stats", "{empty_array_json}"], ("no usable rows",))
    c["stats-binary-jsonl"] = Case(["data", "stats", "{binary_jsonl}"], ("not UTF-8",))
    c["stats-binary-csv"] = Case(["data", "stats", "{binary_csv}"], ("not UTF-8",))
    c["stats-binary-parquet"] = Case(["data", "stats", "{binary_parquet}"], ("parquet",))
    c["stats-bad-json-array"] = Case(["data", "stats", "{bad_json}"], ("no usable rows",))
    c["stats-bad-jsonl"] = Case(["data", "stats", "{bad_jsonl}"], ("no usable rows",))
    c["stats-bad-jsonl-strict"] = Case(["data", "stats", "--strict", "{bad_jsonl}"], ("invalid JSON", "column"))
    c["stats-wrong-columns-csv"] = Case(["data", "stats", "{wrong_cols_csv}"], ("columns are a, b, c",))
    c["stats-wrong-columns-jsonl"] = Case(["data", "stats", "{wrong_cols_jsonl}"], ("--map question=",))
    c["stats-map-unknown-column"] = Case(["data", "stats", "{ok_jsonl}", "--map", "question=nope"], ("--map",))
    c["stats-map-malformed"] = Case(["data", "stats", "{ok_jsonl}", "--map", "nonsense"], ("bad --map",))
    c["stats-map-unknown-field"] = Case(["data", "stats", "{ok_jsonl}", "--map", "answer=sql"], ("bad --map",))
    c["stats-non-sql-contexts"] = Case(["data", "stats", "{non_sql_jsonl}"], ("no usable rows",))
    c["stats-hostile-rows"] = Case(["data", "stats", "{hostile_jsonl}", "--no-tokens"], ("no usable rows",))
    c["stats-huge-line"] = Case(["data", "stats", "{huge_jsonl}"], ("no usable rows",))
    c["stats-unsupported-type"] = Case(["data", "stats", "{text_file}"], ("unsupported file type",))
    c["stats-not-spider-dir"] = Case(["data", "stats", "{empty_dir}"], ("not a Spider folder",))
    c["stats-prompt-style"] = Case(["data", "stats", "{ok_jsonl}", "--prompt-style", "x"], ("--prompt-style",))
    c["stats-hub-offline"] = Case(
        ["data", "stats", "sqlora-no-such-owner/no-such-dataset"], ("hub", "network"), env={"HF_HUB_OFFLINE": "1"}
    )
    c["stats-no-path"] = Case(["data", "stats"], ("missing argument",))
    # -- data from-db -------------------------------------------------------------------------------
    out = ("--output", "{tmp}/pairs.jsonl")
    c["from-db-missing"] = Case(["data", "from-db", "--db", "{missing}.sqlite", *out], ("cannot open database",))
    c["from-db-binary"] = Case(["data", "from-db", "--db", "{binary_db}", *out], ("cannot open database",))
    c["from-db-empty"] = Case(["data", "from-db", "--db", "{empty_db}", *out], ("no tables",))
    c["from-db-refused"] = Case(["data", "from-db", "--db", REFUSED_PG, *out], ("cannot open database",))
    c["from-db-output-under-file"] = Case(
        ["data", "from-db", "--db", "{musical}", "--output", "{ok_jsonl}/pairs.jsonl"], ("exists", "not a directory")
    )
    # -- schema -------------------------------------------------------------------------------------
    c["schema-missing"] = Case(["schema", "--db", "{missing}.sqlite"], ("no SQLite database file",))
    c["schema-binary"] = Case(["schema", "--db", "{binary_db}"], ("not a database",))
    c["schema-csv-as-db"] = Case(["schema", "--db", "{wrong_cols_csv}"], ("not a database",))
    c["schema-empty-db"] = Case(["schema", "--db", "{empty_db}"], ("no tables",))
    c["schema-refused-port"] = Case(["schema", "--db", REFUSED_PG], ("refused",))
    c["schema-missing-mariadb"] = Case(["schema", "--db", MISSING_MARIADB], ("unknown database",))
    c["schema-missing-duckdb"] = Case(["schema", "--db", "duckdb:///{missing}.duckdb"], ("no DuckDB database",))
    c["schema-bad-scheme"] = Case(["schema", "--db", "nosuchdb://x"], ("no SQL dialect",))
    c["schema-memory"] = Case(["schema", "--db", "sqlite://"], ("no SQLite database file",))
    c["schema-sample-values-text"] = Case(["schema", "--db", "{musical}", "-n", "x"], ("--sample-values",))
    c["schema-no-db"] = Case(["schema"], ("missing option",))
    # -- query --------------------------------------------------------------------------------------
    q = ("--db", "{musical}")
    for name, sql in {
        "drop": "DROP TABLE musical",
        "delete": "DELETE FROM musical",
        "update": "UPDATE musical SET Name = 'x'",
        "insert": "INSERT INTO musical (Name) VALUES ('x')",
        "stacked": "SELECT 1; DROP TABLE musical",
        "pragma": "PRAGMA writable_schema = 1",
        "attach": "ATTACH DATABASE '/tmp/sqlora_fuzz.db' AS x",
        "vacuum-into": "VACUUM INTO '/tmp/sqlora_fuzz_copy.db'",
        "create": "CREATE TABLE t (a INT)",
        "cte-delete": "WITH x AS (DELETE FROM musical RETURNING *) SELECT * FROM x",
    }.items():
        c[f"query-hostile-{name}"] = Case(["query", sql, *q], ("refused", "parse", "only"))
    c["query-not-sql"] = Case(["query", "this is not sql", *q], ("refused", "no such column", "not"))
    c["query-unknown-column"] = Case(["query", "SELECT nosuch FROM musical", *q], ("no such column",))
    c["query-empty"] = Case(["query", "", *q], ("empty",))
    c["query-max-rows-zero"] = Case(["query", "SELECT 1", *q, "--max-rows", "0"], ("--max-rows",))
    c["query-timeout-negative"] = Case(["query", "SELECT 1", *q, "--timeout", "-5"], ("--timeout",))
    c["query-db-missing"] = Case(["query", "SELECT 1", "--db", "{missing}.sqlite"], ("cannot open database",))
    c["query-db-refused"] = Case(["query", "SELECT 1", "--db", REFUSED_PG], ("cannot open database",))
    # -- optimize -----------------------------------------------------------------------------------
    c["optimize-hostile"] = Case(["optimize", "DROP TABLE musical", *q], ("refused",))
    c["optimize-not-sql"] = Case(["optimize", "not sql at all", *q], ("refused", "parse", "not"))
    c["optimize-db-missing"] = Case(["optimize", "SELECT 1", "--db", "{missing}.sqlite"], ("cannot open database",))
    # -- explain / transpile ------------------------------------------------------------------------
    c["explain-words"] = Case(["explain", "this is not sql"], ("not a SQL statement",))
    c["explain-question"] = Case(["explain", "how many singers are there?"], ("does not parse",))
    c["explain-empty"] = Case(["explain", ""], ("empty",))
    c["explain-bare-select"] = Case(["explain", "SELECT"], ("without anything",))
    c["explain-two-statements"] = Case(["explain", "SELECT 1; SELECT 2"], ("one SQL statement",))
    c["explain-broken"] = Case(["explain", "SELECT FROM WHERE ("], ("parse", "not a SQL"))
    c["explain-non-ascii"] = Case(["explain", "élèves 学生 🎭"], ("parse", "not a SQL"))
    c["explain-huge"] = Case(["explain", "word " * 20_000], ("parse", "not a SQL"))
    c["explain-dialect"] = Case(["explain", "SELECT 1", "--dialect", "klingon"], ("klingon",))
    c["transpile-words"] = Case(["transpile", "this is not sql", "--to", "postgres"], ("not a SQL statement",))
    c["transpile-broken"] = Case(["transpile", "SELECT FROM (", "--to", "postgres"], ("parse",))
    c["transpile-to-unknown"] = Case(["transpile", "SELECT 1", "--to", "klingon"], ("klingon",))
    c["transpile-from-unknown"] = Case(["transpile", "SELECT 1", "--to", "mysql", "--from", "x"], ("'x'",))
    c["transpile-no-target"] = Case(["transpile", "SELECT 1"], ("missing option",))
    # -- serve (every case fails before a model loads or a port is bound) ---------------------------
    s = ("serve", "--port", "{free_port}")
    c["serve-port-zero"] = Case(["serve", "--port", "0"], ("--port",))
    c["serve-port-too-big"] = Case(["serve", "--port", "70000"], ("--port",))
    c["serve-port-busy"] = Case(["serve", "--port", "{busy_port}"], ("cannot listen",))
    c["serve-port-text"] = Case(["serve", "--port", "http"], ("--port",))
    c["serve-backend"] = Case([*s, "--backend", "tgi"], ("--backend",))
    c["serve-vllm-no-url"] = Case([*s, "--backend", "vllm"], ("--vllm-url",))
    c["serve-vllm-bad-url"] = Case([*s, "--backend", "vllm", "--vllm-url", "ftp://x"], ("--vllm-url",))
    c["serve-db-missing"] = Case([*s, "--db", "{missing}.sqlite"], ("cannot open database",))
    c["serve-db-empty"] = Case([*s, "--db", "{empty_db}"], ("no tables",))
    c["serve-db-refused"] = Case([*s, "--db", REFUSED_PG], ("cannot open database",))
    c["serve-adapter-missing"] = Case([*s, "--adapter", "runs/missing"], ("adapter directory not found",))
    c["serve-model-missing"] = Case([*s, "--model", "./nope"], ("model directory not found",))
    c["serve-prompt-style"] = Case([*s, "--prompt-style", "x"], ("--prompt-style",))
    c["serve-precision"] = Case([*s, "--precision", "int3"], ("--precision",))
    c["serve-max-batch"] = Case([*s, "--max-batch", "0"], ("--max-batch",))
    c["serve-max-rows"] = Case([*s, "--max-rows", "0"], ("--max-rows",))
    c["serve-log-level"] = Case([*s, "--log-level", "loud"], ("--log-level",))
    # -- train / merge / export-gguf / info / demo --------------------------------------------------
    tiny = ("--model", "{tiny}")
    c["train-no-data"] = Case(["train", *tiny], ("--data",))
    c["train-data-missing"] = Case(["train", *tiny, "--data", "{missing}.jsonl"], ("no such file",))
    c["train-data-empty"] = Case(["train", *tiny, "--data", "{empty_jsonl}", "--output", "{tmp}/run"], ("no",))
    c["train-data-binary"] = Case(["train", *tiny, "--data", "{binary_jsonl}", "--output", "{tmp}/run"], ("UTF-8",))
    c["train-config-missing"] = Case(["train", "--config", "{missing}.yaml"], ("configuration", "no such file"))
    c["train-config-not-yaml"] = Case(["train", "--config", "{bad_yaml}"], ("YAML", "configuration"))
    c["train-steps-text"] = Case(["train", "--max-steps", "many"], ("--max-steps",))
    c["train-deepspeed-missing"] = Case(
        ["train", *tiny, "--data", "{ok_jsonl}", "--deepspeed", "{missing}.json"], ("--deepspeed",)
    )
    c["train-fsdp-missing"] = Case(["train", *tiny, "--data", "{ok_jsonl}", "--fsdp", "{missing}.yaml"], ("--fsdp",))
    c["train-precision"] = Case(
        ["train", *tiny, "--data", "{ok_jsonl}", "--mixed-precision", "fp8"], ("mixed_precision",)
    )
    c["train-method"] = Case(["train", *tiny, "--data", "{ok_jsonl}", "--method", "ppo"], ("method",))
    c["train-init-adapter"] = Case(
        ["train", *tiny, "--data", "{ok_jsonl}", "--init-adapter", "{empty_dir}"], ("adapter",)
    )
    c["train-batch-zero"] = Case(["train", *tiny, "--data", "{ok_jsonl}", "--batch-size", "0"], ("batch_size",))
    c["train-grpo-groups"] = Case(
        ["train", *tiny, "--data", "{ok_jsonl}", "--method", "grpo", "--batch-size", "3", "--grad-accum", "1"],
        ("num_generations",),
    )
    c["train-grpo-no-database"] = Case(
        ["train", *tiny, "--data", "{ok_jsonl}", "--method", "grpo", "--output", "{tmp}/grpo"], ("database",)
    )
    c["merge-missing"] = Case(["merge", "{missing}", "--output", "{tmp}/merged"], ("not an adapter directory",))
    c["merge-empty-dir"] = Case(["merge", "{empty_dir}", "--output", "{tmp}/merged"], ("not an adapter",))
    c["export-missing"] = Case(["export-gguf", "{missing}", "-o", "{tmp}/m.gguf"], ("not a model directory",))
    c["export-dtype"] = Case(["export-gguf", "{tiny}", "-o", "{tmp}/m.gguf", "--dtype", "q4"], ("--dtype",))
    c["info-model-missing"] = Case(["info", "--model", "./nope"], ("model directory not found",))
    c["info-model-empty-dir"] = Case(["info", "--model", "{empty_dir}"], ("not a model directory",))
    c["demo-data-missing"] = Case(["demo", "--data", "{missing}.jsonl"], ("no such file",))
    # -- adapt -------------------------------------------------------------------------------------
    c["adapt-no-db"] = Case(["adapt", "--output", "{tmp}/a"], ("--db",))
    c["adapt-db-missing"] = Case(["adapt", "--db", "{missing}.sqlite", "--output", "{tmp}/a"], ("no sqlite database",))
    c["adapt-db-empty"] = Case(["adapt", "--db", "{empty_db}", "--output", "{tmp}/a"], ("table",))
    c["adapt-from-missing"] = Case(
        ["adapt", "--db", "{musical}", "--output", "{tmp}/a", "--from", "{missing}"], ("adapter",)
    )
    c["adapt-steps-zero"] = Case(
        ["adapt", "--db", "{musical}", "--output", "{tmp}/a", "--max-steps", "0"], ("--max-steps",)
    )
    c["adapt-minutes-zero"] = Case(
        ["adapt", "--db", "{musical}", "--output", "{tmp}/a", "--train-minutes", "0"], ("--train-minutes",)
    )
    c["adapt-from-and-base"] = Case(
        ["adapt", "--db", "{musical}", "--output", "{tmp}/a", "--from", "shipped", "--base"], ("--base",)
    )
    c["adapt-paraphrase-model-missing"] = Case(
        ["adapt", "--db", "{musical}", "--output", "{tmp}/a", "--paraphrase-model", "./nope"], ("model directory",)
    )
    c["train-minutes-negative"] = Case(
        ["train", *tiny, "--data", "{ok_jsonl}", "--max-minutes", "-1"], ("max_minutes",)
    )
    c["adapt-questions-missing"] = Case(
        ["adapt", "--db", "{musical}", "--output", "{tmp}/a", "--questions", "{missing}.jsonl"], ("questions",)
    )
    # -- analyze -----------------------------------------------------------------------------------
    c["analyze-missing"] = Case(["analyze", "{missing}.json"], ("no such report",))
    c["analyze-jsonl"] = Case(["analyze", "{ok_jsonl}"], ("report",))
    c["analyze-binary"] = Case(["analyze", "{binary_jsonl}"], ("report",))
    c["analyze-compare-missing"] = Case(
        ["analyze", "{missing}.json", "--compare", "{missing}.json"], ("no such report",)
    )
    c["analyze-examples-negative"] = Case(["analyze", "{ok_jsonl}", "--examples", "-3"], ("--examples",))
    # -- mcp ---------------------------------------------------------------------------------------
    c["mcp-no-db"] = Case(["mcp"], ("--db",))
    c["mcp-db-missing"] = Case(["mcp", "--db", "{missing}.sqlite"], ("cannot open database",))
    c["mcp-db-refused"] = Case(["mcp", "--db", REFUSED_PG], ("cannot open database",))
    c["mcp-transport"] = Case(["mcp", "--db", "{musical}", "--transport", "carrier"], ("--transport",))
    c["mcp-port"] = Case(["mcp", "--db", "{musical}", "--transport", "http", "--port", "0"], ("--port",))
    c["mcp-adapter-missing"] = Case(["mcp", "--db", "{musical}", "--adapter", "{missing}"], ("adapter",))
    c["mcp-precision"] = Case(["mcp", "--db", "{musical}", "--precision", "int3"], ("--precision",))
    # -- the command line itself --------------------------------------------------------------------
    c["unknown-command"] = Case(["frobnicate"], ("no such command",))
    c["unknown-global-option"] = Case(["--frobnicate", "schema"], ("no such option",))
    return c


CASES = _cases()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, spider_dir, tiny_model_dir):
    """Bad (and a few good) files, two SQLite databases, a busy port and a free one."""
    root = tmp_path_factory.mktemp("fuzz")
    files = {
        "empty_jsonl": ("empty.jsonl", b""),
        "empty_csv": ("empty.csv", b""),
        "blank_json": ("blank.json", b"  \n\n \t\n"),
        "empty_array_json": ("empty.json", b"[]"),
        "binary_jsonl": ("binary.jsonl", bytes(range(256)) * 8),
        "binary_csv": ("binary.csv", b"question,context,sql\n\xff\xfe\x00\x81,\xc3\x28,x\n"),
        "binary_parquet": ("binary.parquet", b"PAR1 not really parquet \x00\x01\x02"),
        "binary_db": ("binary.sqlite", os.urandom(4096)),
        "bad_json": ("bad.json", b'[\n  {"question": "a", "context": "x", "sql": "y"},\n  {"question": ,}\n]'),
        "bad_jsonl": ("bad.jsonl", b'{"question": "a"\n{not json}\n[1, 2]\n"text"\n'),
        "wrong_cols_csv": ("wrong.csv", b"a,b,c\n1,2,3\n"),
        "wrong_cols_jsonl": ("wrong.jsonl", json.dumps({"q": "x", "ctx": GOOD_SCHEMA, "query": "SELECT 1"}).encode()),
        "non_sql_jsonl": ("words.jsonl", json.dumps({**OK_ROW, "context": "just some words"}).encode()),
        "hostile_jsonl": (
            "hostile.jsonl",
            "\n".join(
                json.dumps({**OK_ROW, "sql": sql})
                for sql in ("DROP TABLE singer", "SELECT 1; DROP TABLE singer", "", "this is not sql (")
            ).encode(),
        ),
        "huge_jsonl": ("huge.jsonl", b'{"question": "' + b"x" * 2_000_000 + b"\n"),
        "text_file": ("notes.txt", b"hello"),
        "ok_jsonl": ("ok.jsonl", json.dumps(OK_ROW).encode()),
        "bad_yaml": ("bad.yaml", b"model: [unclosed\n  - : :\n"),
    }
    paths = {}
    for key, (name, data) in files.items():
        (root / name).write_bytes(data)
        paths[key] = str(root / name)
    (root / "empty_dir").mkdir()
    musical = root / "musical.sqlite"
    shutil.copyfile(spider_sqlite(spider_dir, "musical"), musical)
    empty_db = root / "empty.sqlite"
    sqlite3.connect(empty_db).close()  # a valid SQLite database without tables
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    paths.update(
        tmp=str(root),
        missing=str(root / "does-not-exist"),
        empty_dir=str(root / "empty_dir"),
        musical=str(musical),
        empty_db=str(empty_db),
        tiny=str(tiny_model_dir),
        busy_port=str(busy.getsockname()[1]),
        free_port=str(free_port),
    )
    databases = [musical, empty_db, Path(paths["binary_db"])]
    before = {db: _fingerprint(db) for db in databases}
    yield paths
    busy.close()
    assert {db: _fingerprint(db) for db in databases} == before, "a bad input changed a database"


def _fingerprint(path: Path) -> str:
    if path.stat().st_size and path.read_bytes()[:16] == b"SQLite format 3\x00":
        return sqlite_checksum(path)
    return path.read_bytes().hex()


def _expand(args: list[str], paths: dict[str, str]) -> list[str]:
    return [arg.format(**paths) if "{" in arg else arg for arg in args]


def assert_clean_failure(code: int, stdout: str, stderr: str, case: Case) -> None:
    """Non-zero exit, one ``error:`` line naming the problem, no traceback."""
    assert code == case.code, f"exit {code}, stderr: {stderr[-2000:]}"
    assert "Traceback" not in stderr and "Traceback" not in stdout
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr[-2000:]
    assert any(word.lower() in errors[0].lower() for word in case.expect), errors[0]


@pytest.mark.parametrize("name", list(CASES))
def test_cli_bad_input(name, workspace, monkeypatch):
    case = CASES[name]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, _expand(case.args, workspace))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}")
    assert_clean_failure(result.exit_code, result.stdout, result.stderr, case)
    assert not Path(workspace["tmp"], "pairs.jsonl").exists()


def test_catalogue_size():
    """At least 100 bad inputs over every command of the CLI."""
    assert len(CASES) >= 100
    import typer

    group = typer.main.get_command(app)
    registered = {name for name in group.commands if name != "data"}
    registered |= {f"data {name}" for name in group.commands["data"].commands}
    tried = {c.args[0] if c.args[0] != "data" else " ".join(c.args[:2]) for c in CASES.values()}
    assert registered <= tried, f"commands without bad-input cases: {registered - tried}"


SUBPROCESS_CASES = ["explain-words", "schema-missing", "stats-binary-jsonl", "ask-adapter-relative", "serve-port-busy"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_real_process_prints_no_traceback(name, workspace):
    case = CASES[name]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **case.env}
    env.pop("SQLORA_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "sqlora.cli.main", *_expand(case.args, workspace)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert_clean_failure(proc.returncode, proc.stdout, proc.stderr, case)
    assert proc.stdout == ""  # diagnostics on stderr only


def test_debug_shows_the_traceback(workspace, monkeypatch):
    """``--debug`` and ``SQLORA_DEBUG=1`` let the original exception through."""
    from sqlora.db import DatabaseError

    args = ["schema", "--db", workspace["missing"] + ".sqlite"]
    result = CliRunner().invoke(app, ["--debug", *args])
    assert isinstance(result.exception, DatabaseError)
    monkeypatch.setenv("SQLORA_DEBUG", "1")
    assert isinstance(CliRunner().invoke(app, args).exception, DatabaseError)
    nested = ["data", "from-db", "--db", workspace["musical"], "--output", workspace["ok_jsonl"] + "/pairs.jsonl"]
    assert isinstance(CliRunner().invoke(app, nested).exception, FileExistsError)  # through the generic boundary
