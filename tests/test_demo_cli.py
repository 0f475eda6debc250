"""``sqlora demo`` end to end (train, compare base vs tuned on held-out databases, answer) with a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sqlora.cli.demo import HOLDOUT_DBS, demo_data_source, demo_db_dir, hold_out
from sqlora.cli.main import app
from sqlora.data.loaders import SQL_CREATE_CONTEXT_HUB_ID
from sqlora.data.record import Example
from sqlora.training.config import TrainConfig

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_demo_trains_compares_and_answers(tmp_path, tiny_model_dir, sql_create_context_path, spider_dir):
    out = tmp_path / "demo"
    args = ["demo", "--model", str(tiny_model_dir), "--data", str(sql_create_context_path)]
    args += ["--db-dir", str(spider_dir / "database"), "--output", str(out), "--steps", "2", "--eval-rows", "4"]
    result = CliRunner().invoke(app, args, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    for step in ("1/4", "2/4", "3/4", "4/4"):
        assert step in result.output
    assert "question:" in result.output and "SQL:" in result.output
    summary = json.loads((out / "adapter" / "summary.json").read_text())
    assert summary["steps"] == 2
    assert (out / "adapter" / "adapter_model.safetensors").exists()

    report = json.loads((out / "report" / "report.json").read_text())
    base, tuned = report["base"], report["tuned"]
    assert report["comparison"]["n"] == len(base["examples"]) == len(tuned["examples"]) == 4
    asked = [row["question"] for row in base["examples"]]
    assert asked == [row["question"] for row in tuned["examples"]]  # the same rows, side by side
    assert {row["db_id"] for row in base["examples"]} <= set(HOLDOUT_DBS)
    assert (out / "report" / "latency.png").stat().st_size > 0


@pytest.mark.parametrize("config", sorted(BENCH.glob("headline*.yaml")), ids=lambda path: path.name)
def test_headline_configs_hold_out_the_demo_databases(config):
    """bench/headline.sh evaluates on HOLDOUT_DBS: every headline recipe must keep exactly those out of training."""
    assert TrainConfig.from_yaml(config).holdout_dbs == HOLDOUT_DBS


def test_demo_data_source_prefers_the_shared_file_then_the_hub(tmp_path):
    assert demo_data_source(tmp_path) == SQL_CREATE_CONTEXT_HUB_ID == "b-mc2/sql-create-context"
    assert demo_db_dir(tmp_path) is None
    local = tmp_path / "sql-create-context" / "train.jsonl"
    local.parent.mkdir()
    local.write_text("")
    (tmp_path / "spider" / "database").mkdir(parents=True)
    assert demo_data_source(tmp_path) == str(local)
    assert demo_db_dir(tmp_path) == tmp_path / "spider" / "database"


def hub_like_rows(schemas: int = 80) -> list[dict]:
    """sql-create-context rows as the hub has them: question, context, answer, no db_id."""
    rows = []
    for i in range(schemas):
        context = f"CREATE TABLE staff_{i} (name VARCHAR, age INTEGER, city VARCHAR)"
        rows.append(
            {
                "question": f"How many staff_{i} are older than {i}?",
                "context": context,
                "answer": f"SELECT COUNT(*) FROM staff_{i} WHERE age > {i}",
            }
        )
        rows.append(
            {
                "question": f"Which names of staff_{i} live in Paris?",
                "context": context,
                "answer": f"SELECT name FROM staff_{i} WHERE city = 'Paris'",
            }
        )
    return rows


def test_hold_out_by_database_when_rows_name_the_held_out_databases(tmp_path):
    examples = [
        Example("q1", "CREATE TABLE a (x INTEGER)", "SELECT x FROM a", db_id=HOLDOUT_DBS[0]),
        Example("q2", "CREATE TABLE b (y INTEGER)", "SELECT y FROM b", db_id="concert_singer"),
    ]
    held = hold_out(examples, "train.jsonl", tmp_path)
    assert held.rows == examples[:1] and held.holdout_dbs == HOLDOUT_DBS and held.train_data == "train.jsonl"
    assert not (tmp_path / "train.jsonl").exists()


def test_hold_out_by_schema_without_db_id(tmp_path):
    examples = [Example(r["question"], r["context"], r["answer"]) for r in hub_like_rows()]
    held = hold_out(examples, SQL_CREATE_CONTEXT_HUB_ID, tmp_path)
    trained = [json.loads(line) for line in Path(held.train_data).read_text().splitlines()]
    assert held.holdout_dbs == [] and "schema" in held.how
    assert held.rows and len(trained) + len(held.rows) == len(examples)
    assert not {e.context for e in held.rows} & {row["context"] for row in trained}  # no schema on both sides


def test_demo_without_the_data_folder_scores_on_test_suites(tmp_path, tiny_model_dir):
    """A local file standing in for the hub dataset (no db_id) and no --db-dir: EX comes from test suites."""
    data = tmp_path / "hub.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in hub_like_rows()))
    out = tmp_path / "demo"
    args = ["demo", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(out)]
    result = CliRunner().invoke(app, [*args, "--steps", "2", "--eval-rows", "4"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert f"data: {data} (local)" in result.output
    assert "held out: 5% of the schemas" in result.output
    assert "EX measured on: test suites generated from the CREATE TABLE context (4 rows)" in result.output
    report = json.loads((out / "report" / "report.json").read_text())
    for label in ("base", "tuned"):
        assert report[label]["n"] == 4 and report[label]["methods"] == {"testsuite": 4}
    trained = {json.loads(line)["question"] for line in (out / "train.jsonl").read_text().splitlines()}
    assert not {row["question"] for row in report["base"]["examples"]} & trained
