"""Runner, report and ``sqlora eval`` end to end: real Spider databases, test suites, the tiny model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sqlora.data.loaders import load_examples
from sqlora.data.record import Example
from sqlora.evaluation.report import markdown_table, write_report
from sqlora.evaluation.runner import evaluate, select_examples
from sqlora.inference.generator import SQLResult

DB = "department_management"
ROW_KEYS = {"db_id", "question", "gold", "pred", "ex"}
AGGREGATE_KEYS = {"n", "ex", "em", "valid_rate", "by_hardness", "latency_s", "mean_generated_tokens", "throughput_qps"}


class ScriptedGenerator:
    """Answers from a list, in order: lets tests know what the right outcome is."""

    batch_size = 2

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.verdicts: list[str | None] = []

    def generate_batch(self, pairs, checks=None, values=None):
        out = [SQLResult(self.answers.pop(0), True, [], "", 0.1 * (i + 1), 5) for i, _ in enumerate(pairs)]
        out[0].repaired = True  # as if the first of each batch had its names repaired
        self.verdicts += [check(r.sql) if check else "no check" for r, check in zip(out, checks or [], strict=True)]
        return out


@pytest.fixture(scope="module")
def spider_rows(sql_create_context_path, spider_dir):
    loaded = load_examples(sql_create_context_path, db_dir=spider_dir / "database")
    return select_examples(loaded.examples, limit=4, holdout_dbs=[DB])


def test_scripted_answers_are_scored_against_the_real_database(spider_rows):
    # Row 0 asks for heads older than 56; in the real DB that is 5 heads.
    answers = [
        spider_rows[0].sql,  # the gold itself
        "SELECT name FROM head",  # wrong
        "SELECT nonexistent FROM department",  # error
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",  # never ends
    ]
    generator = ScriptedGenerator(answers)
    report = evaluate(spider_rows, generator, timeout_s=0.3, progress=False)
    rows = report.examples
    # each row's real database was offered to the generator as a check (execution-guided candidate selection)
    assert generator.verdicts[0] is None and generator.verdicts[1] is None
    assert "no such column" in generator.verdicts[2] and "timed out" in generator.verdicts[3]
    assert [r.outcome for r in rows] == ["correct", "wrong", "pred_error", "pred_timeout"]
    assert [r.ex for r in rows] == [True, False, False, False]
    assert all(r.method == "database" for r in rows)
    assert rows[0].em and rows[0].valid and not rows[2].valid
    agg = report.aggregates
    assert agg["n"] == 4 and agg["ex"] == 0.25 and agg["valid_rate"] == 0.5
    assert [r.repaired for r in rows] == [True, False, True, False] and agg["repaired"] == 2
    assert agg["by_hardness"]["easy"]["n"] >= 1
    assert agg["latency_s"]["p50"] == pytest.approx(0.15)
    assert agg["mean_generated_tokens"] == 5


def test_real_database_decides_where_a_test_suite_would_not(sql_create_context_path, spider_dir):
    """A constant that happens to equal the real answer is right on the real DB only."""
    example = Example(
        "How many heads are older than 56?",
        "CREATE TABLE head (age INTEGER)",
        "SELECT count(*) FROM head WHERE age > 56",
        DB,
    )
    on_db = evaluate([example], ScriptedGenerator(["SELECT 5"]), db_dir=spider_dir / "database", progress=False)
    assert on_db.examples[0].method == "database" and on_db.examples[0].ex is True
    suite = evaluate([example], ScriptedGenerator(["SELECT 5"]), progress=False)
    assert suite.examples[0].method == "testsuite" and suite.examples[0].ex is False


def test_gold_failure_is_excluded_from_the_denominator(spider_dir):
    bad = Example("q", "CREATE TABLE head (age INTEGER)", "SELECT missing_column FROM head", DB)
    good = Example("q", "CREATE TABLE head (age INTEGER)", "SELECT count(*) FROM head", DB)
    report = evaluate(
        [bad, good],
        ScriptedGenerator(["SELECT 1", "SELECT count(*) FROM head"]),
        db_dir=spider_dir / "database",
        progress=False,
    )
    assert [r.ex for r in report.examples] == [None, True]
    assert report.aggregates["n_scored"] == 1 and report.aggregates["ex"] == 1.0


def test_tiny_model_end_to_end_on_a_real_database(spider_rows, tiny_model_dir, tmp_path):
    from sqlora.inference.generator import SQLGenerator

    generator = SQLGenerator(model=str(tiny_model_dir), max_new_tokens=8, batch_size=2)
    report = evaluate(spider_rows[:3], generator, progress=False)
    data = report.to_dict()
    assert set(data) >= AGGREGATE_KEYS and len(data["examples"]) == 3
    for row in data["examples"]:
        assert set(row) >= ROW_KEYS and row["db_id"] == DB and row["method"] == "database"
        assert row["ex"] in (True, False) and row["latency_s"] > 0
    files = write_report({"base": data, "tuned": data}, tmp_path / "report")
    for path in files:
        assert path.exists() and path.stat().st_size > 0
    document = json.loads((tmp_path / "report" / "report.json").read_text())
    assert set(document) == {"base", "tuned", "comparison"} and document["comparison"]["speedup"] == 1.0
    table = (tmp_path / "report" / "report.md").read_text()
    assert "| base | 3 |" in table and "| tuned | 3 |" in table and "EX hard %" in table


def test_markdown_table_speedup_column():
    def rep(latency):
        levels = {lvl: {"n": 0, "ex": None, "em": None} for lvl in ("easy", "medium", "hard", "extra")}
        return {
            "n": 1,
            "ex": 1.0,
            "em": 0.0,
            "valid_rate": 1.0,
            "by_hardness": levels,
            "latency_s": {"mean": latency, "p50": latency},
            "mean_generated_tokens": 10.0,
        }

    table = markdown_table({"base": rep(2.0), "tuned": rep(0.5)})
    assert "| base | 1 | 100.0 | 0.0 | 100.0 |" in table and table.strip().endswith("4.00x |")


def _cli(args):
    from sqlora.cli.main import app

    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_cli_eval_json(sql_create_context_path, spider_dir, tiny_model_dir, tmp_path):
    out = tmp_path / "out.json"
    result = _cli(
        [
            "eval",
            "--data",
            str(sql_create_context_path),
            "--db-dir",
            str(spider_dir / "database"),
            "--model",
            str(tiny_model_dir),
            "--holdout-dbs",
            f"{DB},nonexistent_db",
            "--limit",
            "3",
            "--json",
            str(out),
            "--batch-size",
            "3",
            "--max-new-tokens",
            "8",
        ]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["n"] == 3 and len(data["examples"]) == 3 and data["methods"] == {"database": 3}
    assert all(set(row) >= ROW_KEYS and row["db_id"] == DB for row in data["examples"])
    assert all(row["ex"] in (True, False) for row in data["examples"])


def test_cli_compare_writes_one_report(sql_create_context_path, tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    adapter = tmp_path / "adapter"
    get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(adapter)
    out, folder = tmp_path / "cmp.json", tmp_path / "report"
    result = _cli(
        [
            "eval",
            "--data",
            str(sql_create_context_path),
            "--model",
            str(tiny_model_dir),
            "--adapter",
            str(adapter),
            "--compare",
            "--limit",
            "2",
            "--json",
            str(out),
            "--report-dir",
            str(folder),
            "--prompt-style",
            "article",
            "--max-new-tokens",
            "8",
            "--candidates",
            "2",
            "--no-repair",
            "--precision",
            "bf16",
        ]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data) == {"base", "tuned", "comparison"}
    assert data["tuned"]["candidates"] == 2 and data["tuned"]["repair"] is False
    assert data["base"]["precision"] == data["tuned"]["precision"] == "bf16"
    assert data["base"]["adapter"] is None and data["tuned"]["adapter"] == str(adapter)
    assert data["base"]["methods"] == {"testsuite": 2}  # no --db-dir: generated databases
    assert {"ex_delta", "em_delta", "speedup", "ex_delta_by_hardness"} <= set(data["comparison"])
    for name in ("report.json", "report.md", "accuracy_by_hardness.png", "latency.png"):
        assert (folder / name).stat().st_size > 0


def test_cli_rejects_bad_options(tmp_path):
    result = _cli(["eval", "--data", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2
    assert _cli(["eval", "--data", "x", "--compare"]).exit_code == 2
    bad_precision = _cli(["eval", "--data", "x", "--precision", "int3"])
    assert bad_precision.exit_code == 2 and "unknown --precision" in bad_precision.output


@pytest.mark.real_model
def test_embedded_model_on_one_question(spider_rows):
    from sqlora.inference.generator import SQLGenerator

    report = evaluate(spider_rows[:1], SQLGenerator(max_new_tokens=32, repair=False), progress=False)
    assert report.aggregates["n"] == 1 and report.aggregates["valid_rate"] is not None
    assert all(row.method == "database" and row.ex in (True, False) for row in report.examples)
