"""SQLGenerator's behaviour is its settings: stop rule, repair steps, candidates, precision; from_model and
shared() go through the same constructor."""

from __future__ import annotations

import pytest

from sqlora.inference.generator import DEFAULT_REPAIRS, SQLGenerator
from sqlora.inference.stopping import STOP_STRINGS, RunawayStop, stopping_kwargs
from sqlora.inference.validation import repair_identifiers, repair_joins

SCHEMA = "CREATE TABLE customers (id INTEGER, name TEXT); CREATE TABLE invoices (customer_id INTEGER, total REAL)"
SELF_JOIN = "SELECT SUM(T2.total) FROM customers AS T1 JOIN invoices AS T2 ON T2.customer_id = T2.customer_id"


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from sqlora.models.loading import load_model, load_tokenizer

    return load_model(str(tiny_model_dir), device="cpu"), load_tokenizer(str(tiny_model_dir))


def test_stop_rules_give_generate_the_stop_strings_or_nothing(tiny):
    _, tokenizer = tiny
    ours = stopping_kwargs("sqlora", tokenizer, 7)
    assert ours["stop_strings"] == STOP_STRINGS and isinstance(ours["stopping_criteria"][0], RunawayStop)
    assert stopping_kwargs("eos", tokenizer, 7) == {}
    with pytest.raises(ValueError, match="unknown stop rule"):
        stopping_kwargs("never", tokenizer, 7)


def test_eos_only_runs_to_the_budget(tiny):
    generator = SQLGenerator.from_model(*tiny, max_new_tokens=12, stop="eos", repair=False)
    results = generator.generate_batch([("How many customers?", SCHEMA), ("List the names.", SCHEMA)])
    # a random model practically never emits EOS: with no stop strings every answer uses the whole budget
    assert [r.generated_tokens for r in results] == [12, 12]
    generator.max_new_tokens = 5
    assert generator.generate("How many?", SCHEMA).generated_tokens == 5


def test_from_model_goes_through_the_constructor(tiny):
    generator = SQLGenerator.from_model(*tiny, prompt_style="chat", candidates=3, batch_size=2, stop="eos")
    assert (generator.prompt_style, generator.candidates, generator.batch_size, generator.stop) == ("chat", 3, 2, "eos")
    assert generator.precision == "fp32" and generator.device == "cpu" and generator.tokenizer.padding_side == "left"
    assert generator.repairs == list(DEFAULT_REPAIRS)
    with pytest.raises(ValueError, match="unknown stop rule"):
        SQLGenerator.from_model(*tiny, stop="never")
    with pytest.raises(ValueError, match="at least 1"):
        SQLGenerator.from_model(*tiny, candidates=0)


def test_repairs_are_steps_the_caller_chooses(tiny):
    generator = SQLGenerator.from_model(*tiny)
    assert generator.answer(SELF_JOIN, SCHEMA).sql == SELF_JOIN.replace("= T2.customer_id", "= T1.id")
    generator.repairs = [step for step in generator.repairs if step is not repair_joins]
    kept = generator.answer(SELF_JOIN, SCHEMA)
    assert kept.sql == SELF_JOIN and kept.valid and not kept.repaired
    assert generator.answer("SELECT nme FROM customers", SCHEMA).sql == "SELECT name FROM customers"

    seen = []

    def record(sql: str, schema: str) -> str | None:
        seen.append(sql)
        return None

    generator.repairs = [repair_identifiers, record]
    result = generator.answer("SELECT nme FROM customers", SCHEMA)
    assert seen == ["SELECT name FROM customers"] and result.repaired  # each step sees the previous one's output

    generator.repair = False
    assert generator.repairs == [] and not generator.answer("SELECT nme FROM customers", SCHEMA).valid
    generator.repair = True
    assert generator.repairs == list(DEFAULT_REPAIRS)
    assert SQLGenerator.from_model(*tiny, repairs=[record]).repairs == [record]
    assert SQLGenerator.from_model(*tiny, repair=False, repairs=[record]).repairs == []


def test_shared_generators_are_one_per_settings(tiny_model_dir):
    from sqlora.inference.generator import _shared_generator

    _shared_generator.cache_clear()
    try:
        first = SQLGenerator.shared(model=str(tiny_model_dir), max_new_tokens=8, device="cpu")
        assert SQLGenerator.shared(model=str(tiny_model_dir), max_new_tokens=8, device="cpu") is first
        other = SQLGenerator.shared(model=str(tiny_model_dir), max_new_tokens=8, device="cpu", stop="eos")
        assert other is not first and other.stop == "eos" and first.stop == "sqlora"
    finally:
        _shared_generator.cache_clear()
