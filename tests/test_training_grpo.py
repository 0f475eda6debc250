"""GRPO with an execution reward: the reward on a real Spider database, and runs through `sqlora train`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

from sqlora.training.config import TrainConfig
from sqlora.training.grpo import VALID_SQL_REWARD, execution_reward

GOLD = "SELECT count(*) FROM head WHERE age > 56"


@pytest.fixture(scope="module")
def department_db(spider_dir: Path) -> str:
    return str(spider_dir / "database" / "department_management" / "department_management.sqlite")


def test_execution_reward_scores_results_not_strings(department_db: str) -> None:
    completions = [
        GOLD,  # the gold query
        "```sql\nSELECT COUNT(*) FROM head AS h WHERE h.age > 56;\n```",  # same result, other text
        "SELECT count(*) FROM head WHERE age > 10",  # runs, different result
        "SELECT count(*) FROM heads",  # no such table
        "I cannot answer that.",  # no SQL
    ]
    rewards = execution_reward(completions, gold=[GOLD] * 5, db_path=[department_db] * 5)
    assert rewards == [1.0, 1.0, VALID_SQL_REWARD, 0.0, 0.0]


def test_grpo_needs_databases_and_a_divisible_batch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of num_generations"):
        TrainConfig(data="x.jsonl", method="grpo", batch_size=3, grad_accum=1, num_generations=4)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"question": "q?", "context": "CREATE TABLE t (a INT)", "answer": "SELECT a FROM t"}))
    from sqlora.cli.main import app

    result = CliRunner().invoke(
        app, ["train", "--method", "grpo", "--data", str(rows), "--output", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "needs rows with a database" in result.stderr


def _rows(sql_create_context_path: Path, target: Path, db_id: str, count: int) -> Path:
    lines = [line for line in sql_create_context_path.read_text().splitlines() if f'"db_id": "{db_id}"' in line]
    target.write_text("\n".join(lines[:count]) + "\n")
    return target


def test_grpo_run_writes_an_adapter(tmp_path, tiny_model_dir, sql_create_context_path, spider_dir) -> None:
    """Two GRPO steps on the tiny model through the CLI: adapter, checkpoints, summary and log with rewards."""
    from sqlora.cli.main import app

    data = _rows(sql_create_context_path, tmp_path / "rows.jsonl", "department_management", 8)
    run = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train", "--method", "grpo", "--data", str(data), "--db-dir", str(spider_dir / "database"),
            "--model", str(tiny_model_dir), "--output", str(run), "--max-steps", "2", "--batch-size", "4",
            "--grad-accum", "1", "--num-generations", "4", "--max-completion-length", "12", "--logging-steps", "1",
            "--save-steps", "1", "--report-to", "none", "--threads", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["method"] == "grpo" and summary["steps"] == 2 and summary["questions"] == 8
    assert summary["stopped_by_time_budget"] is False
    assert [h["step"] for h in summary["history"]] == [1, 2]
    assert all(0.0 <= h["reward"] <= 1.0 for h in summary["history"])
    assert all(math.isfinite(h["loss"]) and math.isfinite(h["grad_norm"]) for h in summary["history"])
    assert (run / "adapter_model.safetensors").exists() and (run / "checkpoint-2").is_dir()
    assert json.loads((run / "sqlora.json").read_text())["quantized"] is True
    assert TrainConfig.from_yaml(run / "train_config.yaml").method == "grpo"


@pytest.mark.real_model
def test_grpo_moves_the_embedded_model_where_rewards_differ(tmp_path, sql_create_context_path, spider_dir) -> None:
    """On the real model some sampled answers run and some do not: their groups' advantages train the adapter."""
    from sqlora.training import train

    data = _rows(sql_create_context_path, tmp_path / "rows.jsonl", "department_management", 8)
    config = TrainConfig(
        method="grpo",
        data=str(data),
        db_dir=str(spider_dir / "database"),
        output=str(tmp_path / "run"),
        max_steps=1,
        batch_size=8,
        grad_accum=1,
        num_generations=8,
        max_completion_length=24,
        learning_rate=1e-3,
        warmup_steps=0,
        logging_steps=1,
        save_steps=0,
        report_to=["none"],
        seed=1,
    )
    summary = train(config)
    assert summary["steps"] == 1
    varied = [h for h in summary["history"] if h["reward_std"] > 0]
    adapter = load_file(str(tmp_path / "run" / "adapter_model.safetensors"))
    moved = any(float(t.abs().sum()) > 0 for name, t in adapter.items() if "lora_B" in name)
    assert moved == bool(varied), summary["history"]
