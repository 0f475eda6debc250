"""``sqlora demo`` end to end (train, compare base vs tuned on held-out databases, answer) with a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sqlora.cli.demo import HOLDOUT_DBS
from sqlora.cli.main import app
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
