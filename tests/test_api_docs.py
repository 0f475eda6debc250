"""docs/api.md runs: its Python blocks execute top to bottom as one script, with the tiny model standing in
for the embedded one (through the embedded model's own cache path, so no code in the docs changes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sqlora
from sqlora.models.embedded import EMBEDDED_MODEL_NAME

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def tiny_as_embedded(tmp_path, monkeypatch, tiny_model_dir):
    """An empty working folder, a sqlora cache whose embedded model is the tiny one, and a shipped adapter
    that fits it (the real one fits only the real embedded model)."""
    import json

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from sqlora.inference.generator import _shared_generator

    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    (cache / "models" / EMBEDDED_MODEL_NAME).symlink_to(tiny_model_dir, target_is_directory=True)
    monkeypatch.setenv("SQLORA_CACHE", str(cache))
    shipped = tmp_path / "shipped"
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), lora).save_pretrained(shipped)
    (shipped / "sqlora.json").write_text(json.dumps({"base_model": "embedded", "prompt_style": "chat"}))
    monkeypatch.setattr("sqlora.models.shipped.SHIPPED_ADAPTER_DIR", shipped)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _shared_generator.cache_clear()
    yield work
    _shared_generator.cache_clear()


def test_api_doc_examples_run(tiny_as_embedded):
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 8
    namespace: dict = {"__name__": "api_doc"}
    for number, block in enumerate(blocks, 1):
        try:
            exec(compile(block, f"docs/api.md block {number}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"docs/api.md block {number} failed: {err!r}\n{block}") from err

    assert [t.name for t in namespace["db"].tables()] == ["customers", "orders"]
    assert namespace["customers"].rows == [("Ada", "London"), ("Linus", "Helsinki")]
    assert isinstance(namespace["answer"], sqlora.SQLResult)
    generator = namespace["generator"]
    assert generator.stop == "eos" and generator.candidates == 2
    assert [step.__name__ for step in generator.repairs] == ["repair_identifiers", "lowercase_keywords"]
    assert len(namespace["results"]) == 2
    assert namespace["in_memory"].precision == "fp32" and namespace["in_memory"].repairs == []
    assert namespace["summary"]["steps"] == 2 and (tiny_as_embedded / "runs" / "shop" / "sqlora.json").exists()
    assert len(namespace["report"].examples) == 4
    assert "CREATE TABLE customers" in namespace["schema"]


def test_public_names_are_the_modules_own():
    from sqlora.db.connect import Database
    from sqlora.evaluation.runner import evaluate
    from sqlora.inference.generator import SQLGenerator
    from sqlora.training import TrainConfig, train

    assert sqlora.Database is Database and sqlora.SQLGenerator is SQLGenerator and sqlora.evaluate is evaluate
    assert sqlora.TrainConfig is TrainConfig and sqlora.train is train
    assert set(sqlora.__all__) <= set(dir(sqlora))
    with pytest.raises(AttributeError):
        sqlora.not_a_name  # noqa: B018
