"""Training building blocks: answer-only labels, SQL token weights, AnswerLoss, batch plans, configs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import yaml

from sqlora.data.record import Example
from sqlora.prompts.templates import render_prompt
from sqlora.training.batching import batch_plan, shard
from sqlora.training.config import TokenWeights, TrainConfig
from sqlora.training.features import IGNORE, collate, encode_example, sql_char_roles

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = ROOT / "configs" / "accelerate"

EXAMPLE = Example(
    question="How many heads named Bob are older than 56?",
    context="CREATE TABLE head (age INTEGER, name VARCHAR)",
    sql="SELECT COUNT(*) FROM head WHERE age > 56 AND name = 'Bob'",
)
ROLE_WEIGHTS = TokenWeights(keyword=2.0, identifier=3.0, operator=4.0, literal=5.0, other=0.5)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from sqlora.models.loading import load_tokenizer

    return load_tokenizer(str(tiny_model_dir))


# ---------------------------------------------------------------- labels and weights


def test_prompt_masked_answer_and_eos_learned(tokenizer) -> None:
    features = encode_example(EXAMPLE, tokenizer)
    prompt_ids = tokenizer(render_prompt(EXAMPLE.context, EXAMPLE.question, "article"), add_special_tokens=False)
    n_prompt = len(prompt_ids.input_ids)
    assert features.input_ids[:n_prompt] == prompt_ids.input_ids
    assert features.labels[:n_prompt] == [IGNORE] * n_prompt
    assert features.weights[:n_prompt] == [0.0] * n_prompt
    answer = features.labels[n_prompt:]
    assert IGNORE not in answer
    assert answer == features.input_ids[n_prompt:]
    assert answer[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(answer[:-1]) == EXAMPLE.sql
    assert features.weights[n_prompt:] == [1.0] * len(answer)


def test_too_long_examples_are_dropped(tokenizer) -> None:
    assert encode_example(EXAMPLE, tokenizer, max_length=10) is None


def test_sql_char_roles() -> None:
    sql = EXAMPLE.sql
    roles = sql_char_roles(sql, {"head", "age", "name"})

    def role_of(fragment: str) -> set[str]:
        start = sql.index(fragment)
        return set(roles[start : start + len(fragment)])

    assert role_of("SELECT") == {"keyword"}
    assert role_of("COUNT") == {"keyword"}
    assert role_of("WHERE") == {"keyword"}
    assert role_of("head") == {"identifier"}
    assert role_of("age") == {"identifier"}
    assert role_of(">") == {"operator"}
    assert role_of("=") == {"operator"}
    assert role_of("56") == {"literal"}
    assert role_of("'Bob'") == {"literal"}
    assert roles[sql.index(" ")] == "other"


def test_token_weights_follow_sql_roles(tokenizer) -> None:
    features = encode_example(EXAMPLE, tokenizer, weights=ROLE_WEIGHTS)
    rows = zip(features.input_ids, features.labels, features.weights, strict=True)
    learned = [(tokenizer.decode([i]).strip(), w) for i, lab, w in rows if lab != IGNORE]
    by_text = {}
    for text, weight in learned:
        by_text.setdefault(text, set()).add(weight)
    assert by_text["SELECT"] == {2.0}
    assert by_text["FROM"] == {2.0}
    assert by_text["WHERE"] == {2.0}
    assert by_text["AND"] == {2.0}
    assert by_text["head"] == {3.0}
    assert by_text["age"] == {3.0}
    assert by_text["name"] == {3.0}
    assert by_text[">"] == {4.0}
    assert by_text["="] == {4.0}
    assert by_text["Bob"] == {5.0}
    assert {by_text["5"].pop(), by_text["6"].pop()} == {5.0}
    assert learned[-1] == (tokenizer.eos_token, 0.5)  # EOS is learned, with the 'other' weight
    # prompt tokens never carry weight
    assert all(w == 0.0 for lab, w in zip(features.labels, features.weights, strict=True) if lab == IGNORE)


def test_collate_pads_right_and_masks(tokenizer) -> None:
    short = encode_example(Example("q?", "CREATE TABLE t (a INT)", "SELECT a FROM t"), tokenizer)
    long = encode_example(EXAMPLE, tokenizer)
    batch = collate([short, long], tokenizer.pad_token_id)
    n = len(short)
    assert batch["input_ids"].shape == (2, len(long))
    assert batch["attention_mask"][0, :n].all() and not batch["attention_mask"][0, n:].any()
    assert (batch["labels"][0, n:] == IGNORE).all()
    assert (batch["weights"][0, n:] == 0).all()
    assert (batch["input_ids"][0, n:] == tokenizer.pad_token_id).all()


def test_collate_rounds_width_up_to_a_multiple(tokenizer) -> None:
    features = encode_example(EXAMPLE, tokenizer)
    plain = collate([features], tokenizer.pad_token_id)
    bucketed = collate([features], tokenizer.pad_token_id, multiple=16)
    width = bucketed["input_ids"].shape[1]
    assert width % 16 == 0 and len(features) <= width < len(features) + 16
    n = len(features)
    assert torch.equal(bucketed["input_ids"][:, :n], plain["input_ids"])
    assert int(bucketed["attention_mask"].sum()) == n  # real tokens unchanged
    assert (bucketed["labels"][:, n:] == IGNORE).all() and (bucketed["weights"][:, n:] == 0).all()


# ---------------------------------------------------------------- the loss


@pytest.fixture(scope="module")
def lora_model(tiny_model_dir):
    """The tiny model with LoRA adapters whose B matrices are non-zero (so the adapter matters)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model = get_peft_model(
        base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.eval()
    return model


def _batch(tokenizer, weights: TokenWeights | None = None) -> dict[str, torch.Tensor]:
    rows = [
        EXAMPLE,
        Example("Name all farms.", "CREATE TABLE farm (name VARCHAR, cows INTEGER)", "SELECT name FROM farm"),
        Example("Most cows?", "CREATE TABLE farm (name VARCHAR, cows INTEGER)", "SELECT MAX(cows) FROM farm"),
    ]
    return collate([encode_example(r, tokenizer, weights=weights) for r in rows], tokenizer.pad_token_id)


def test_answer_loss_equals_hf_causal_lm_loss(tokenizer, lora_model) -> None:
    from sqlora.training.loss import AnswerLoss

    batch = _batch(tokenizer)
    with torch.no_grad():
        ours, tokens = AnswerLoss(lora_model)(**batch)
        reference = lora_model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        ).loss
    assert int(tokens) == int((batch["labels"][:, 1:] != IGNORE).sum())
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    # and the adapter is really in play: without it the loss differs
    with torch.no_grad(), lora_model.disable_adapter():
        plain, _ = AnswerLoss(lora_model)(**batch)
    assert abs(float(plain) - float(ours)) > 1e-3


def test_answer_loss_weighted_matches_manual(tokenizer, lora_model) -> None:
    from sqlora.training.loss import AnswerLoss

    batch = _batch(tokenizer, ROLE_WEIGHTS)
    with torch.no_grad():
        ours, _ = AnswerLoss(lora_model)(**batch)
        logits = lora_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
    token_loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]),
        batch["labels"][:, 1:].reshape(-1),
        ignore_index=IGNORE,
        reduction="none",
    )
    weights = batch["weights"][:, 1:].reshape(-1)
    expected = (token_loss * weights).sum() / weights.sum()
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        uniform, _ = AnswerLoss(lora_model)(**_batch(tokenizer))
    assert abs(float(uniform) - float(ours)) > 1e-4


def test_answer_loss_backprops_only_into_adapter(tokenizer, lora_model) -> None:
    from sqlora.training.loss import AnswerLoss

    for name, param in lora_model.named_parameters():
        param.requires_grad_("lora_" in name)
        param.grad = None
    loss, _ = AnswerLoss(lora_model)(**_batch(tokenizer))
    loss.backward()
    grads = {n: p.grad for n, p in lora_model.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert any(float(g.abs().sum()) > 0 for g in grads.values())
    lora_model.zero_grad(set_to_none=True)


# ---------------------------------------------------------------- batch plans


def _lengths(n: int = 203, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(20, 400) for _ in range(n)]


@pytest.mark.parametrize("grouped", [True, False])
def test_batch_plan_deterministic_and_complete(grouped: bool) -> None:
    lengths = _lengths()
    plan = batch_plan(lengths, 8, epoch=1, seed=42, group_by_length=grouped)
    assert plan == batch_plan(lengths, 8, epoch=1, seed=42, group_by_length=grouped)
    assert plan != batch_plan(lengths, 8, epoch=2, seed=42, group_by_length=grouped)
    assert plan != batch_plan(lengths, 8, epoch=1, seed=7, group_by_length=grouped)
    for epoch in range(3):
        flat = [i for batch in batch_plan(lengths, 8, epoch, 42, grouped) for i in batch]
        assert sorted(flat) == list(range(len(lengths)))  # every example exactly once per epoch
    assert all(len(b) == 8 for b in plan[:-1]) or grouped  # grouped plans shuffle the short batch in
    assert sum(len(b) == 8 for b in plan) == len(lengths) // 8


def _padding_fraction(plan: list[list[int]], lengths: list[int]) -> float:
    padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in plan)
    return 1 - sum(lengths) / padded


def test_length_grouping_reduces_padding() -> None:
    lengths = _lengths(800)
    grouped = _padding_fraction(batch_plan(lengths, 8, 0, 42, True), lengths)
    shuffled = _padding_fraction(batch_plan(lengths, 8, 0, 42, False), lengths)
    assert shuffled > 0.3
    assert grouped < shuffled / 4, (grouped, shuffled)


def test_length_grouped_batches_are_shuffled() -> None:
    lengths = _lengths(800)
    plan = batch_plan(lengths, 8, 0, 42, True)
    longest = [max(lengths[i] for i in b) for b in plan]
    assert longest != sorted(longest, reverse=True)


def test_shard_splits_plan_disjointly() -> None:
    plan = batch_plan(_lengths(), 4, 0, 42)
    parts = [shard(plan, rank, 2) for rank in range(2)]
    assert len(parts[0]) == len(parts[1]) == len(plan) // 2
    seen = [i for part in parts for batch in part for i in batch]
    assert len(seen) == len(set(seen))


# ---------------------------------------------------------------- configs


def test_train_config_yaml_round_trip(tmp_path) -> None:
    config = TrainConfig(data="x.jsonl", max_steps=3, token_weights=TokenWeights(keyword=2.0), holdout_dbs=["a"])
    config.save(tmp_path / "c.yaml")
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == config
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({"learning_rat": 1.0})


def test_article_config_is_the_article_recipe() -> None:
    config = TrainConfig.from_yaml(ROOT / "sqlora" / "configs" / "article-qwen1.5-4b.yaml")
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.1)
    assert (config.batch_size, config.grad_accum, config.learning_rate, config.warmup_steps) == (4, 4, 2e-4, 100)
    assert config.quantize and config.epochs == 3
    assert config.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]


@pytest.mark.parametrize("name", ["ddp", "cpu-2proc", "deepspeed-zero2", "deepspeed-zero3", "fsdp"])
def test_accelerate_configs_are_valid(name: str) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    path = ACCELERATE_CONFIGS / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    loaded = load_config_from_file(str(path))  # accelerate's own parser: rejects unknown keys
    assert loaded.compute_environment.value == "LOCAL_MACHINE"
    expected = {
        "ddp": "MULTI_GPU",
        "cpu-2proc": "MULTI_GPU",  # accelerate's torchrun launcher; the loop itself picks CPU + gloo
        "deepspeed-zero2": "DEEPSPEED",
        "deepspeed-zero3": "DEEPSPEED",
        "fsdp": "FSDP",
    }[name]
    assert loaded.distributed_type.value == expected
    if name == "cpu-2proc":
        assert raw["use_cpu"] is False and raw["num_processes"] == 2 and raw["mixed_precision"] == "no"
    if name.startswith("deepspeed"):
        assert raw["deepspeed_config"]["zero_stage"] == int(name[-1])
    if name == "fsdp":
        assert raw["fsdp_config"]["fsdp_use_orig_params"] is True


def test_training_data_from_several_sources_with_gold_pruned_spider(tokenizer, sql_create_context_path, spider_dir):
    from sqlora.data.loaders import load_examples
    from sqlora.training.loop import prepare_data

    holdout = ["hr_1", "store_1"]
    config = TrainConfig(
        data=[str(sql_create_context_path), str(spider_dir)],
        spider_schema="gold",
        holdout_dbs=holdout,
        validation_fraction=0.0,
    )
    only_cc = prepare_data(
        TrainConfig(data=str(sql_create_context_path), holdout_dbs=holdout, validation_fraction=0.0), tokenizer
    )
    both = prepare_data(config, tokenizer)
    spider_rows = [e for e in load_examples(spider_dir).examples if e.db_id not in holdout]
    # Spider adds its questions that sql-create-context lacks, but not the ones both sources have
    assert only_cc.counts["train_rows"] < both.counts["train_rows"] < only_cc.counts["train_rows"] + len(spider_rows)
    assert both.counts["too_long"] == 0  # gold-pruned contexts are short
    assert config.data_sources == [str(sql_create_context_path), str(spider_dir)]


# ---------------------------------------------------------------- bf16 training


def test_bf16_training_keeps_frozen_weights_in_bf16_and_lora_in_fp32(tiny_model_dir, tokenizer) -> None:
    """Under bf16 the residual stream is bf16 (half the saved activations); gradients still reach every adapter."""
    from peft.helpers import disable_input_dtype_casting

    from sqlora.training.loop import build_model
    from sqlora.training.loss import AnswerLoss

    config = TrainConfig(model=str(tiny_model_dir), data="unused", output="unused")
    batch = collate([encode_example(EXAMPLE, tokenizer)], tokenizer.pad_token_id, multiple=16)
    losses = {}
    for precision in ("no", "bf16"):
        torch.manual_seed(0)
        model = build_model(config, "cpu", precision)
        frozen = {p.dtype for p in model.parameters() if not p.requires_grad and p.is_floating_point()}
        trainable = {p.dtype for p in model.parameters() if p.requires_grad}
        assert trainable == {torch.float32}
        assert frozen == ({torch.bfloat16} if precision == "bf16" else {torch.float32})
        with (
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"),
            disable_input_dtype_casting(model, active=precision == "bf16"),
        ):
            loss, _ = AnswerLoss(model)(**batch)
        loss.backward()
        lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
        assert lora_b and all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_b)
        losses[precision] = float(loss.detach())
    assert losses["bf16"] == pytest.approx(losses["no"], rel=0.02)
