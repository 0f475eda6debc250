"""``sqlora adapt``: pairs from one database, a short training run on the tiny model, scores before and after."""

from __future__ import annotations

import json
import sqlite3

import pytest
import sqlglot
from db_fixtures import (
    PG_URL,
    load_into,
    pg_checksum,
    pg_connect,
    spider_sqlite,
    sqlite_checksum,
    sqlite_tables,
    writable_copy,
)
from typer.testing import CliRunner

from sqlora.adapt.split import general_sample, split_pairs
from sqlora.cli.main import app
from sqlora.db import Database
from sqlora.synth import Pair

QUESTIONS = [
    {"question": "How many climbers are there?", "sql": "SELECT count(*) FROM climber"},
    {
        "question": "List the names of climbers in descending order of points.",
        "query": "SELECT Name FROM climber ORDER BY Points DESC",
    },
    {
        "question": "What are the names of mountains in Uganda?",
        "sql": "SELECT Name FROM mountain WHERE Country = 'Uganda'",
    },
]


@pytest.fixture(scope="module")
def adapted(tmp_path_factory, spider_dir, tiny_model_dir, sql_create_context_path):
    tmp = tmp_path_factory.mktemp("adapt")
    db = writable_copy(spider_dir, "climbing", tmp)
    before = sqlite_checksum(db)
    questions = tmp / "questions.jsonl"
    questions.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    general = tmp / "general.jsonl"
    general.write_text("".join(sql_create_context_path.read_text().splitlines(keepends=True)[:40]))
    out = tmp / "out"
    args = [
        "adapt", "--db", f"sqlite:///{db}", "--output", str(out), "--questions", str(questions),
        "--general-data", str(general), "--model", str(tiny_model_dir), "--max-steps", "2", "--no-quantize",
        "--eval-limit", "4", "--max-pairs", "60", "--max-new-tokens", "24",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    return result, out, db, before


def test_adapt_writes_adapter_data_and_report(adapted):
    result, out, db, before = adapted
    assert result.exit_code == 0, result.output
    assert (out / "adapter_model.safetensors").exists() and (out / "sqlora.json").exists()
    report = json.loads((out / "adapt_report.json").read_text())
    assert report["database"] == "climbing" and report["pairs"] == 60
    assert report["train_pairs"] + report["validation_pairs"] == 60 and report["validation_pairs"] > 0
    assert report["general_rows"] == round(report["train_pairs"] * 0.5)
    for name, n in (("validation", 4), ("questions", 3)):
        for side in ("before", "after"):
            assert report["scores"][name][side]["n"] == n
            assert all(row["correct"] in (True, False) for row in report["scores"][name][side]["rows"])
    train_rows = [json.loads(line) for line in (out / "data" / "train.jsonl").read_text().splitlines()]
    assert len(train_rows) == report["train_pairs"] + report["general_rows"]
    assert sum(r["db_id"] == "climbing" for r in train_rows) == report["train_pairs"]
    assert "EX before" in (out / "adapt_report.md").read_text()
    assert sqlite_checksum(db) == before  # nothing written to the user's database


def test_validation_shapes_are_unseen_in_training(adapted):
    _, out, _, _ = adapted
    read = lambda name: [json.loads(x) for x in (out / "data" / name).read_text().splitlines()]  # noqa: E731
    train = {r["answer"] for r in read("train.jsonl")}
    assert not train & {r["answer"] for r in read("validation.jsonl")}


def test_adapter_works_with_ask(adapted):
    result, out, _, _ = adapted
    assert result.exit_code == 0
    ask = CliRunner().invoke(app, ["ask", "How many climbers?", "--adapter", str(out), "--schema",
                                   "CREATE TABLE climber (Name TEXT)", "--json"])  # fmt: skip
    answer = json.loads(ask.stdout)  # the tiny model's SQL is junk: exit 1 means "no valid SQL" (docs/cli.md)
    assert ask.exit_code == (0 if answer["valid"] else 1), ask.output
    assert "sql" in answer


def test_adapt_from_an_adapter(adapted, spider_dir, tmp_path):
    _, first, _, _ = adapted
    db = writable_copy(spider_dir, "climbing", tmp_path)
    out = tmp_path / "second"
    args = ["adapt", "--db", str(db), "--output", str(out), "--from", str(first), "--max-steps", "1",
            "--no-quantize", "--eval-limit", "2", "--max-pairs", "20", "--max-new-tokens", "24"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "adapt_report.json").read_text())
    assert report["started_from"] == str(first)


def test_from_a_missing_adapter_is_a_clear_error(tmp_path, spider_dir):
    db = writable_copy(spider_dir, "climbing", tmp_path)
    result = CliRunner().invoke(app, ["adapt", "--db", str(db), "--output", str(tmp_path / "o"), "--from", "x"])
    assert result.exit_code == 2 and "error:" in result.output and "adapter" in result.output


def test_unreachable_and_empty_databases_fail_clearly(tmp_path):
    runner = CliRunner()
    unreachable = runner.invoke(app, ["adapt", "--db", "postgresql+psycopg://postgres@127.0.0.1:1/x", "--output",
                                      str(tmp_path / "a")])  # fmt: skip
    assert unreachable.exit_code != 0 and "error:" in unreachable.output
    empty = tmp_path / "empty.sqlite"
    conn = sqlite3.connect(empty)
    conn.execute("CREATE TABLE t (a INTEGER)")
    conn.close()
    result = runner.invoke(app, ["adapt", "--db", str(empty), "--output", str(tmp_path / "b")])
    assert result.exit_code != 0 and "error:" in result.output and "empty" in result.output
    assert "Traceback" not in result.output + unreachable.output


def test_bad_questions_file_fails_clearly(tmp_path, spider_dir):
    db = writable_copy(spider_dir, "climbing", tmp_path)
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "no sql here"}\n')
    args = ["adapt", "--db", str(db), "--output", str(tmp_path / "o"), "--questions", str(bad), "--max-steps", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "error:" in result.output and "question" in result.output


@pytest.mark.postgres
def test_adapt_on_postgres_leaves_the_database_unchanged(spider_dir, pg_schema, tiny_model_dir, tmp_path):
    conn = pg_connect()
    load_into("postgres", conn, sqlite_tables(spider_sqlite(spider_dir, "climbing")), schema=pg_schema)
    conn.close()
    before = pg_checksum(pg_schema)
    out = tmp_path / "pg"
    args = ["adapt", "--db", PG_URL, "--schema", pg_schema, "--output", str(out), "--model", str(tiny_model_dir),
            "--max-steps", "1", "--no-quantize", "--eval-limit", "2", "--max-pairs", "30", "--max-new-tokens", "8"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "adapt_report.json").read_text())
    assert report["backend"] == "postgresql" and report["pairs"] == 30
    assert report["scores"]["validation"]["after"]["n"] == 2
    assert "postgres@" not in (out / "adapt_report.json").read_text()  # no server URL in the report
    assert pg_checksum(pg_schema) == before
    trained = [json.loads(line)["answer"] for line in (out / "data" / "train.jsonl").read_text().splitlines()]
    assert len(trained) == report["train_pairs"]  # every pair survives the rewrite into the training dialect
    assert all(sqlglot.parse_one(sql, read="sqlite") for sql in trained)


def test_training_rows_are_rewritten_in_sqlite():
    from sqlora.adapt.pipeline import in_training_dialect
    from sqlora.data.record import Example

    rows = [Example("q", "CREATE TABLE t (a INT)", 'SELECT "a" FROM "s"."t" WHERE a ILIKE \'x%\''),
            Example("q", "", "SELECT FROM WHERE (")]  # fmt: skip
    rewritten = [r.sql for r in in_training_dialect(rows, "postgres")]
    assert rewritten == ['SELECT "a" FROM "t" WHERE LOWER(a) LIKE LOWER(\'x%\')']  # ILIKE, said in SQLite
    assert in_training_dialect(rows, "sqlite") == rows


def test_answers_are_scored_in_the_database_dialect():
    from sqlora.adapt.scoring import in_dialect

    context = "CREATE TABLE singer (name TEXT, age INT)"
    assert in_dialect('SELECT name FROM singer WHERE name = "Bob"', "postgres", context) == (
        "SELECT name FROM singer WHERE name = 'Bob'"
    )
    assert in_dialect("SELECT name FROM singer LIMIT 2", "tsql", context) == "SELECT TOP 2 name FROM singer"
    assert in_dialect("SELEC name FRM", "postgres", context) == "SELEC name FRM"  # left to fail as itself


def test_split_keeps_family_and_table_groups_together():
    pairs = [Pair(f"q{i}", f"s{i}", fam, table, 1) for i, (fam, table) in enumerate(
        [("count", "a"), ("count", "b"), ("join", "a"), ("join", "a"), ("nested", "b"), ("project", "a")] * 3)]  # fmt: skip
    train, valid = split_pairs(pairs, validation=0.3, seed=1)
    assert train and valid and len(train) + len(valid) == len(pairs)
    assert not {(p.family, p.table) for p in train} & {(p.family, p.table) for p in valid}
    assert split_pairs(pairs, validation=0.3, seed=1) == (train, valid)
    assert len(general_sample(pairs, 5, seed=0)) == 5 and general_sample(pairs, 0) == []


def test_questions_from_csv_and_jsonl(tmp_path):
    from sqlora.adapt.questions import load_questions

    csv_file = tmp_path / "q.csv"
    csv_file.write_text('question,query\n"How many climbers?",SELECT count(*) FROM climber\n,SELECT 1\n')
    db_file = tmp_path / "climbing.sqlite"
    conn = sqlite3.connect(db_file)
    conn.executescript("CREATE TABLE climber (Name TEXT); CREATE TABLE mountain (Name TEXT, Height REAL);")
    conn.close()
    with Database(db_file) as db:
        rows = load_questions(csv_file, db)
    assert [(r.question, r.sql, r.db_id) for r in rows] == [
        ("How many climbers?", "SELECT count(*) FROM climber", "climbing")
    ]
    assert "CREATE TABLE climber" in rows[0].context


@pytest.mark.real_model
def test_scoring_with_the_embedded_model(spider_dir):
    """The real embedded model answers generated questions; each answer is scored by execution on the database."""
    from sqlora.adapt.scoring import score
    from sqlora.inference.generator import SQLGenerator
    from sqlora.synth import database_examples, generate_pairs

    with Database(spider_sqlite(spider_dir, "climbing")) as db:
        pairs = [p for p in generate_pairs(db, seed=0) if p.family == "count"][:2]
        examples = database_examples(db, pairs)
        report = score(db, examples, SQLGenerator(max_new_tokens=48), progress=False)
    assert report["n"] == report["n_scored"] == 2
    assert all(row["correct"] in (True, False) and row["pred"] for row in report["rows"])
    assert report["ex"] == sum(row["correct"] for row in report["rows"]) / 2


def test_from_and_base_together_is_a_clear_error(tmp_path, spider_dir):
    db = writable_copy(spider_dir, "climbing", tmp_path)
    args = ["adapt", "--db", str(db), "--output", str(tmp_path / "o"), "--from", "shipped", "--base"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "error:" in result.output and "--base" in result.output
    assert not (tmp_path / "o").exists()


def test_adapt_on_the_embedded_model_starts_from_the_shipped_adapter(tmp_path, spider_dir):
    """The default start on the embedded model is the shipped adapter; --paraphrase-model adds reworded pairs."""
    import torch
    from safetensors.torch import load_file

    from sqlora.models.shipped import SHIPPED_ADAPTER_DIR
    from sqlora.synth.paraphrase import keeps_meaning

    db = writable_copy(spider_dir, "climbing", tmp_path)
    out = tmp_path / "out"
    config = tmp_path / "train.yaml"
    config.write_text("warmup_steps: 0\n")  # with a warmup, a one-step run's only step has learning rate 0
    args = ["adapt", "--db", str(db), "--output", str(out), "--max-steps", "1", "--eval-limit", "1",
            "--max-pairs", "16", "--max-new-tokens", "16", "--paraphrase-model", "embedded", "--config", str(config)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "adapt_report.json").read_text())
    assert report["started_from"] == str(SHIPPED_ADAPTER_DIR)
    assert report["scores"]["validation"]["before"]["n"] == 1  # "before" is the shipped adapter itself
    assert "paraphrase_s" in report["timings"] and 0 <= report["paraphrased_pairs"] < report["train_pairs"]
    shipped = load_file(str(SHIPPED_ADAPTER_DIR / "adapter_model.safetensors"))
    adapted = load_file(str(out / "adapter_model.safetensors"))
    assert shipped.keys() == adapted.keys()
    assert any(not torch.equal(shipped[k].float(), adapted[k].float()) for k in shipped)  # one step moved it
    pairs = {}
    for line in (out / "data" / "pairs.jsonl").read_text().splitlines():
        row = json.loads(line)
        pairs.setdefault(row["answer"], []).append(row["question"])
    reworded = [questions for questions in pairs.values() if len(questions) > 1]
    assert len(reworded) == report["paraphrased_pairs"]
    for sql, questions in pairs.items():  # a template question and its rewording share the SQL
        if len(questions) > 1:
            assert keeps_meaning(Pair(questions[0], sql, "", "", 0), questions[1])
