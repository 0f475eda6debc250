"""The runaway stop and beam-candidate fallback of SQLGenerator."""

import json

import pytest
import torch

from sqlora.inference.generator import SQLGenerator
from sqlora.inference.stopping import RunawayStop, is_runaway
from sqlora.inference.validation import validate_sql
from sqlora.models.loading import load_tokenizer

LOOP = "SELECT T1.name FROM customers AS T1 " + " ".join(
    f"JOIN customers AS T{i} ON T1.id = T{i}.id" for i in range(2, 8)
)


def test_runaway_detects_loops_with_changing_aliases_and_literal_repeats():
    assert is_runaway(LOOP)
    assert is_runaway("SELECT a FROM t WHERE " + " OR ".join(['a = "Solveig"'] * 6))
    assert not is_runaway("SELECT T1.name FROM customers AS T1 JOIN orders AS T2 ON T1.id = T2.customer_id")


def test_no_gold_query_of_the_shared_data_counts_as_a_runaway(sql_create_context_path, spider_dir):
    golds = [json.loads(line)["answer"] for line in sql_create_context_path.open()]
    golds += [json.loads(line)["query"] for line in (spider_dir / "train_spider.jsonl").open()]
    assert len(golds) > 10_000
    for sql in golds:
        words = sql.split()
        assert not any(is_runaway(" ".join(words[:k])) for k in range(16, len(words) + 1)), sql


def test_runaway_stop_ends_only_the_looping_row(tiny_model_dir):
    tokenizer = load_tokenizer(str(tiny_model_dir))
    prompt = tokenizer("Question: x\nSQL: ", add_special_tokens=False).input_ids
    loop = tokenizer(LOOP, add_special_tokens=False).input_ids
    fine = tokenizer("SELECT name FROM customers WHERE id = 1", add_special_tokens=False).input_ids
    fine += [tokenizer.pad_token_id] * (len(loop) - len(fine))
    ids = torch.tensor([prompt + loop, prompt + fine])
    assert RunawayStop(tokenizer, len(prompt))(ids).tolist() == [True, False]


def test_complete_candidates_returns_k_completions_per_prompt(tiny_model_dir):
    generator = SQLGenerator(model=str(tiny_model_dir), max_new_tokens=6, batch_size=4, prompt_style="article")
    prompts = [generator.prompt("How many heads?", "CREATE TABLE head (age INTEGER)")] * 3
    options = generator.complete_candidates(prompts, 3)
    assert [len(o) for o in options] == [3, 3, 3]
    assert all(0 < count <= 6 for o in options for _, count in o)
    assert generator.complete(prompts[:1])[0] == generator.complete_candidates(prompts[:1], 1)[0][0]


class ScriptedCandidates(SQLGenerator):
    """The real selection logic over scripted completions (greedy first, then beam candidates)."""

    def __init__(self, greedy: str, beams: list[str]) -> None:
        self.greedy, self.beams, self.calls = greedy, beams, []
        self.prompt_style, self.repair, self.candidates, self.batch_size = "article", False, len(beams), 8

    def prompt(self, question: str, schema: str) -> str:
        return question

    def complete_candidates(self, prompts, k, schemas=None):
        self.calls.append(k)
        if k == 1:
            return [[(self.greedy, 5)] for _ in prompts]
        return [[(text, 5) for text in self.beams] for _ in prompts]


def test_first_valid_beam_candidate_replaces_an_invalid_greedy_answer():
    schema = "CREATE TABLE head (age INTEGER, name TEXT)"
    generator = ScriptedCandidates(
        "SELECT salary FROM head", ["SELECT wage FROM head", "SELECT name FROM head", "SELECT age FROM head"]
    )
    [result] = generator.generate_batch([("q", schema)])
    assert result.sql == "SELECT name FROM head" and result.valid and result.repaired
    assert result.generated_tokens == 5 + 3 * 5 and generator.calls == [1, 3]
    assert validate_sql(result.sql, schema).valid

    generator = ScriptedCandidates("SELECT age FROM head", ["SELECT name FROM head", "SELECT age FROM head"])
    [result] = generator.generate_batch([("q", schema)])
    assert result.sql == "SELECT age FROM head" and generator.calls == [1]  # valid greedy answers are kept


def test_name_repair_fixes_greedy_answers_and_beams_without_another_model_call():
    schema = "CREATE TABLE head (age INTEGER, name TEXT)"
    generator = ScriptedCandidates("SELECT nme FROM head", ["SELECT name FROM head"])
    generator.repair = True
    [result] = generator.generate_batch([("q", schema)])
    assert (
        result.sql == "SELECT name FROM head"
        and result.valid
        and result.repaired
        and result.raw == "SELECT nme FROM head"
    )
    assert generator.calls == [1]  # repaired in place: no beams needed

    generator = ScriptedCandidates("SELECT salary FROM head", ["SELECT wage FROM head", "SELECT name FROM head"])
    generator.repair = True
    [result] = generator.generate_batch([("q", schema)])
    assert result.sql == "SELECT age FROM head" and generator.calls == [1, 2]  # the first beam, repaired


def test_join_repair_mends_a_valid_self_join_only_when_repair_is_on():
    schema = "CREATE TABLE customers (id INTEGER, name TEXT); CREATE TABLE invoices (customer_id INTEGER, total REAL)"
    slip = "SELECT SUM(T2.total) FROM customers AS T1 JOIN invoices AS T2 ON T2.customer_id = T2.customer_id"
    generator = ScriptedCandidates(slip, [slip])
    [result] = generator.generate_batch([("q", schema)])
    assert result.sql == slip and result.valid and not result.repaired  # valid SQL, repair off: as written
    generator = ScriptedCandidates(slip, [slip])
    generator.repair = True
    [result] = generator.generate_batch([("q", schema)])
    assert result.sql == slip.replace("= T2.customer_id", "= T1.id") and result.valid and result.repaired
    assert generator.calls == [1]


def test_check_rejection_picks_the_first_beam_that_passes_or_keeps_the_valid_answer():
    schema = "CREATE TABLE head (age INTEGER, name TEXT)"
    refuse_age = lambda sql: "returned no rows" if "age" in sql else None  # noqa: E731
    generator = ScriptedCandidates(
        "SELECT age FROM head", ["SELECT wage FROM head", "SELECT age FROM head", "SELECT name FROM head"]
    )
    [result] = generator.generate_batch([("q", schema)], [refuse_age])
    assert result.sql == "SELECT name FROM head" and result.rejected is None and generator.calls == [1, 3]

    generator = ScriptedCandidates("SELECT age FROM head", ["SELECT wage FROM head", "SELECT age + 1 FROM head"])
    [result] = generator.generate_batch([("q", schema)], [refuse_age])
    assert result.sql == "SELECT age FROM head" and result.rejected == "returned no rows"  # nothing better

    generator = ScriptedCandidates("SELECT salary FROM head", ["SELECT age + 1 FROM head", "SELECT wage FROM head"])
    [result] = generator.generate_batch([("q", schema)], [refuse_age])
    assert result.valid and result.sql == "SELECT age + 1 FROM head"  # invalid answers take a valid beam anyway
    assert result.rejected == "returned no rows"

    generator = ScriptedCandidates("SELECT age FROM head", ["SELECT name FROM head"])
    [result] = generator.generate_batch([("q", schema)], [None])
    assert result.sql == "SELECT age FROM head" and generator.calls == [1]  # no check, valid: kept


def test_qlora_adapter_runs_on_its_4bit_base_and_lora_adapter_is_merged(tiny_model_dir, tmp_path):
    import bitsandbytes as bnb
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    adapter = tmp_path / "adapter"
    get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(adapter)
    meta = {"base_model": str(tiny_model_dir), "prompt_style": "article"}
    (adapter / "sqlora.json").write_text(json.dumps({**meta, "quantized": True}))
    on_4bit = SQLGenerator(adapter=str(adapter), device="cpu").model
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in on_4bit.modules())
    assert any("lora_A" in name for name, _ in on_4bit.named_modules())  # kept as an adapter on 4-bit weights
    (adapter / "sqlora.json").write_text(json.dumps({**meta, "quantized": False}))
    merged = SQLGenerator(adapter=str(adapter), device="cpu").model
    assert not any("lora_A" in name for name, _ in merged.named_modules())  # folded into the weights
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in merged.modules())


def test_qlora_adapter_in_a_float_precision_is_folded_into_its_dequantized_nf4_weights(tiny_model_dir, tmp_path):
    import bitsandbytes as bnb
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    adapter = tmp_path / "adapter"
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # a nonzero update
    get_peft_model(base, lora).save_pretrained(adapter)
    meta = {"base_model": str(tiny_model_dir), "prompt_style": "article", "quantized": True}
    (adapter / "sqlora.json").write_text(json.dumps(meta))
    ids = torch.tensor([[1, 5, 9, 14, 3]])

    on_4bit = SQLGenerator(adapter=str(adapter), device="cpu")
    folded = SQLGenerator(adapter=str(adapter), device="cpu", precision="fp32")
    on_original = SQLGenerator(model=str(tiny_model_dir), adapter=None, device="cpu", precision="fp32")
    assert (on_4bit.precision, folded.precision, on_original.precision) == ("nf4", "fp32", "fp32")
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in folded.model.modules())
    assert not any("lora_A" in name for name, _ in folded.model.named_modules())
    with torch.no_grad():
        expected = on_4bit.model(ids).logits
        assert torch.allclose(folded.model(ids).logits, expected, atol=1e-2)  # what was trained (bnb: bf16 kernels)
        assert not torch.allclose(on_original.model(ids).logits, expected, atol=1e-2)

    bf16 = SQLGenerator(adapter=str(adapter), device="cpu", precision="bf16")
    assert bf16.model.dtype == torch.bfloat16 and bf16.precision == "bf16"
    with pytest.raises(ValueError, match="unknown precision"):
        SQLGenerator(adapter=str(adapter), device="cpu", precision="int3")
