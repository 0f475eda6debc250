"""The adapter shipped with sqlora: what it is, when it is the default, and that it answers on the real model."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from sqlora.cli.demo import HOLDOUT_DBS
from sqlora.cli.main import app
from sqlora.models.shipped import SHIPPED_ADAPTER, SHIPPED_ADAPTER_DIR, answering_adapter, resolve_adapter
from sqlora.training.config import TrainConfig

SHIPPED = str(SHIPPED_ADAPTER_DIR)


@pytest.mark.parametrize(
    ("model", "adapter", "base", "expected"),
    [
        (None, None, False, SHIPPED),  # the embedded model answers with the shipped adapter
        ("embedded", None, False, SHIPPED),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", None, False, SHIPPED),
        (None, None, True, None),  # --base: the raw model
        ("Qwen/Qwen1.5-4B-Chat", None, False, None),  # another base model: no adapter unless given
        (None, "runs/mine", False, "runs/mine"),
        ("Qwen/Qwen1.5-4B-Chat", SHIPPED_ADAPTER, False, SHIPPED),  # asked for by name: given as asked
    ],
)
def test_which_adapter_an_answering_interface_loads(model, adapter, base, expected):
    assert answering_adapter(model, adapter, base) == expected


def test_an_adapter_and_base_together_are_refused():
    with pytest.raises(ValueError, match="not both"):
        answering_adapter(None, "runs/mine", base=True)
    assert resolve_adapter(SHIPPED_ADAPTER) == SHIPPED and resolve_adapter("x") == "x" and resolve_adapter(None) is None


def test_the_shipped_adapter_is_complete_and_documents_its_recipe():
    config = json.loads((SHIPPED_ADAPTER_DIR / "adapter_config.json").read_text())
    meta = json.loads((SHIPPED_ADAPTER_DIR / "sqlora.json").read_text())
    recipe = TrainConfig.from_yaml(SHIPPED_ADAPTER_DIR / "train_config.yaml")
    card = (SHIPPED_ADAPTER_DIR / "README.md").read_text()

    assert (SHIPPED_ADAPTER_DIR / "adapter_model.safetensors").stat().st_size > 1_000_000
    assert meta == {"base_model": "embedded", "prompt_style": recipe.prompt_style, "quantized": True}
    # one training's rank, or a blend of two trainings (bench/adapter_blend.py), which stacks their ranks
    assert config["r"] in (recipe.lora_r, 2 * recipe.lora_r)
    assert set(config["target_modules"]) == set(recipe.target_modules)
    assert recipe.holdout_dbs == HOLDOUT_DBS  # the databases its scores are measured on were never trained on
    assert all(db in card for db in HOLDOUT_DBS)
    assert "EX" in card and "bench/headline.yaml" in card


def test_ask_refuses_an_adapter_together_with_base():
    args = ["ask", "--schema", "CREATE TABLE t (x INTEGER)", "--adapter", SHIPPED_ADAPTER, "--base", "How many t?"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "error: give either --adapter or --base" in result.output


def test_generate_sql_answers_with_the_shipped_adapter_by_default(embedded_dir):
    """The real embedded model with the shipped adapter answers a simple count correctly; --base is the raw model."""
    from sqlora import SQLGenerator, generate_sql

    schema = "CREATE TABLE head (age INTEGER, name TEXT)"  # the README's example
    answer = generate_sql("How many heads are older than 56?", schema)
    assert SQLGenerator.shared(adapter=SHIPPED).adapter == SHIPPED  # the generator the default call loaded

    db = sqlite3.connect(":memory:")
    db.execute(schema)
    db.executemany("INSERT INTO head VALUES (?, ?)", [(50, "a"), (60, "b"), (70, "c")])
    assert answer.valid, answer.errors
    assert db.execute(answer.sql).fetchall() == [(2,)]
