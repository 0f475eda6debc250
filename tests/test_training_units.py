"""Training building blocks: answer-only labels, SQL token weights, AnswerLoss, batch plans, configs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from sqlora.data.record import Example
from sqlora.prompts.templates import render_prompt
from sqlora.training.config import TokenWeights, TrainConfig
from sqlora.training.features import (
    IGNORE,
    SQLCollator,
    collate,
    encode_example,
    sql_char_roles,
)
from sqlora.training.loss import answer_loss, logits_needed
from sqlora.training.sampler import EpochLengthGroupedSampler

ROOT = Path(__file__).resolve().parents[1]

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


def test_collate_pads_left_and_masks(tokenizer) -> None:
    short = encode_example(Example("q?", "CREATE TABLE t (a INT)", "SELECT a FROM t"), tokenizer)
    long = encode_example(EXAMPLE, tokenizer)
    batch = collate([short, long], tokenizer.pad_token_id)
    pad = len(long) - len(short)
    assert batch["input_ids"].shape == (2, len(long))
    assert not batch["attention_mask"][0, :pad].any() and batch["attention_mask"][0, pad:].all()
    assert (batch["labels"][0, :pad] == IGNORE).all() and (batch["weights"][0, :pad] == 0).all()
    assert (batch["input_ids"][0, :pad] == tokenizer.pad_token_id).all()
    assert batch["input_ids"][0, pad:].tolist() == short.input_ids
    # positions count from each row's first real token, so padding does not shift them
    assert batch["position_ids"][0, pad:].tolist() == list(range(len(short)))
    assert batch["position_ids"][1].tolist() == list(range(len(long)))


def test_collate_rounds_width_up_to_a_multiple(tokenizer) -> None:
    features = encode_example(EXAMPLE, tokenizer)
    bucketed = SQLCollator(tokenizer.pad_token_id, multiple=16)([features])
    width = bucketed["input_ids"].shape[1]
    assert width % 16 == 0 and len(features) <= width < len(features) + 16
    n = len(features)
    assert bucketed["input_ids"][0, width - n :].tolist() == features.input_ids
    assert int(bucketed["attention_mask"].sum()) == n  # real tokens unchanged
    assert (bucketed["labels"][:, : width - n] == IGNORE).all() and (bucketed["weights"][:, : width - n] == 0).all()


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


ROWS = [
    EXAMPLE,
    Example("Name all farms.", "CREATE TABLE farm (name VARCHAR, cows INTEGER)", "SELECT name FROM farm"),
    Example("Most cows?", "CREATE TABLE farm (name VARCHAR, cows INTEGER)", "SELECT MAX(cows) FROM farm"),
]


def _batch(tokenizer, weights: TokenWeights | None = None, rows=ROWS) -> dict[str, torch.Tensor]:
    return collate([encode_example(r, tokenizer, weights=weights) for r in rows], tokenizer.pad_token_id, 16)


def _sqlora_loss(model, batch) -> tuple[torch.Tensor, int]:
    """What SQLTrainer.compute_loss computes: logits of the answer positions only, then the weighted loss."""
    keep = logits_needed(batch["labels"])
    inputs = {k: batch[k] for k in ("input_ids", "position_ids")}
    logits = model(**inputs, attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
    assert logits.shape[1] == len(keep) < batch["input_ids"].shape[1]  # the prompt positions got no logits
    assert int(keep[-1]) == batch["input_ids"].shape[1] - 1  # ...and the answers, which end at the last position, did
    return answer_loss(logits, batch["labels"], batch["weights"])


def test_answer_loss_equals_hf_causal_lm_loss(tokenizer, lora_model) -> None:
    batch = _batch(tokenizer)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    with torch.no_grad():
        ours, tokens = _sqlora_loss(lora_model, batch)
        reference = lora_model(**inputs, labels=batch["labels"]).loss
    assert tokens == int((batch["labels"][:, 1:] != IGNORE).sum())
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)
    # and the adapter is really in play: without it the loss differs
    with torch.no_grad(), lora_model.disable_adapter():
        plain, _ = _sqlora_loss(lora_model, batch)
    assert abs(float(plain) - float(ours)) > 1e-3


def test_left_padding_changes_no_row(tokenizer, lora_model) -> None:
    """A row's loss in a padded batch equals its loss alone: the padding and position ids are neutral."""
    with torch.no_grad():
        alone = [float(_sqlora_loss(lora_model, _batch(tokenizer, rows=[row]))[0]) for row in ROWS[1:]]
        both = _batch(tokenizer, rows=[ROWS[1], EXAMPLE])  # the farm row gets padded
        logits = lora_model(**{k: both[k] for k in ("input_ids", "attention_mask", "position_ids")}).logits
    row_loss = torch.nn.functional.cross_entropy(logits[0, :-1], both["labels"][0, 1:], ignore_index=IGNORE)
    assert float(row_loss) == pytest.approx(alone[0], abs=1e-4)


def test_answer_loss_weighted_matches_manual(tokenizer, lora_model) -> None:
    batch = _batch(tokenizer, ROLE_WEIGHTS)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    with torch.no_grad():
        ours, _ = _sqlora_loss(lora_model, batch)
        logits = lora_model(**inputs).logits.float()
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
        uniform, _ = _sqlora_loss(lora_model, _batch(tokenizer))
    assert abs(float(uniform) - float(ours)) > 1e-4


def test_answer_loss_backprops_only_into_adapter(tokenizer, lora_model) -> None:
    for name, param in lora_model.named_parameters():
        param.requires_grad_("lora_" in name)
        param.grad = None
    loss, _ = _sqlora_loss(lora_model, _batch(tokenizer))
    loss.backward()
    grads = {n: p.grad for n, p in lora_model.named_parameters() if p.requires_grad}
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert any(float(g.abs().sum()) > 0 for g in grads.values())
    lora_model.zero_grad(set_to_none=True)


# ---------------------------------------------------------------- length-grouped sampling


def _lengths(n: int = 203, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(20, 400) for _ in range(n)]


def _order(lengths: list[int], batch: int, epoch: int, seed: int) -> list[int]:
    sampler = EpochLengthGroupedSampler(batch, lengths, seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_sampler_order_depends_only_on_seed_and_epoch() -> None:
    lengths = _lengths()
    torch.manual_seed(0)
    order = _order(lengths, 8, 1, 42)
    torch.manual_seed(123)  # the global RNG (restored differently on a resume) plays no part
    assert order == _order(lengths, 8, 1, 42)
    assert order != _order(lengths, 8, 2, 42)
    assert order != _order(lengths, 8, 1, 7)
    for epoch in range(3):
        assert sorted(_order(lengths, 8, epoch, 42)) == list(range(len(lengths)))  # each row once per epoch


def test_sampler_shuffles_the_batches_not_only_the_rows() -> None:
    """Successive batches are not sorted by length (no long-to-short sweep over consecutive optimizer steps)."""
    lengths, batch = _lengths(803), 4
    order = _order(lengths, batch, 0, 42)
    longest = [max(lengths[i] for i in order[s : s + batch]) for s in range(0, len(order), batch)]
    falls = sum(a > b for a, b in zip(longest, longest[1:], strict=False)) / (len(longest) - 1)
    assert 0.35 < falls < 0.65, falls
    assert sorted(order) == list(range(803))


def _padding_fraction(order: list[int], lengths: list[int], batch: int) -> float:
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1 - sum(lengths) / padded


def test_length_grouping_reduces_padding() -> None:
    lengths = _lengths(800)
    grouped = _padding_fraction(_order(lengths, 8, 0, 42), lengths, 8)
    shuffled = _padding_fraction(random.Random(0).sample(range(800), 800), lengths, 8)
    assert shuffled > 0.3
    assert grouped < shuffled / 4, (grouped, shuffled)


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


def test_training_data_from_several_sources_with_gold_pruned_spider(tokenizer, sql_create_context_path, spider_dir):
    from sqlora.data.loaders import load_examples
    from sqlora.training.data import prepare_data

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


def test_spider_questions_once_per_schema_mode_with_distinct_tables(spider_dir, sql_create_context_path):
    from sqlora.data.splits import context_tables, deduplicate
    from sqlora.training.data import load_rows

    config = TrainConfig(data=[str(sql_create_context_path), str(spider_dir)], spider_schema=["gold", "question"])
    gold = load_rows(TrainConfig(data="unused", spider_schema="gold"), str(spider_dir))
    both = load_rows(config, str(spider_dir))
    assert len(both) == 2 * len(gold) and both[: len(gold)] == gold
    assert load_rows(config, str(sql_create_context_path)) == load_rows(
        TrainConfig(data="unused"), str(sql_create_context_path)
    )
    linked = both[len(gold) :]
    differing = sum(context_tables(g.context) != context_tables(q.context) for g, q in zip(gold, linked, strict=True))
    assert 0 < len(deduplicate(both)) - len(deduplicate(gold)) <= differing


def test_spider_schema_list_is_checked_and_read_from_the_flag():
    from sqlora.cli.train import load_train_config

    assert load_train_config(None, {"spider_schema": "gold,question"}).spider_schemas == ["gold", "question"]
    assert TrainConfig(data="x", spider_schema="gold").spider_schemas == ["gold"]
    with pytest.raises(ValueError, match="spider_schema must be one of"):
        TrainConfig(data="x", spider_schema=["gold", "linked"])
    with pytest.raises(ValueError, match="at least one mode"):
        TrainConfig(data="x", spider_schema=[])


# ---------------------------------------------------------------- bf16 training


def test_bf16_training_keeps_frozen_weights_in_bf16_and_lora_in_fp32(tiny_model_dir, tokenizer) -> None:
    """Under bf16 the residual stream is bf16 (half the saved activations); gradients still reach every adapter."""
    from peft.helpers import disable_input_dtype_casting

    from sqlora.training.model import build_model

    config = TrainConfig(model=str(tiny_model_dir), data="unused", output="unused")
    batch = _batch(tokenizer)
    losses = {}
    for precision in ("no", "bf16"):
        torch.manual_seed(0)
        model = build_model(config, precision, "cpu")
        frozen = {p.dtype for p in model.parameters() if not p.requires_grad and p.is_floating_point()}
        trainable = {p.dtype for p in model.parameters() if p.requires_grad}
        assert trainable == {torch.float32}
        assert frozen == ({torch.bfloat16} if precision == "bf16" else {torch.float32})
        with (
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"),
            disable_input_dtype_casting(model, active=precision == "bf16"),
        ):
            loss, _ = _sqlora_loss(model, batch)
        loss.backward()
        lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
        assert lora_b and all(p.grad is not None and p.grad.abs().sum() > 0 for p in lora_b)
        losses[precision] = float(loss.detach())
    assert losses["bf16"] == pytest.approx(losses["no"], rel=0.02)


@pytest.mark.parametrize("disable_tqdm", [False, True], ids=["bar", "quiet-logging"])
def test_training_progress_is_one_bar_and_never_log_dicts(disable_tqdm, tmp_path, lora_model) -> None:
    """With transformers' logging quiet (the CLI's) the Trainer would print every log dict on stdout."""
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from sqlora.training.callbacks import ProgressBarCallback, quiet_progress

    args = TrainingArguments(output_dir=str(tmp_path), disable_tqdm=disable_tqdm, use_cpu=True, report_to=[])
    trainer = Trainer(model=lora_model, args=args)
    kinds = lambda: [type(c) for c in trainer.callback_handler.callbacks]  # noqa: E731
    assert (PrinterCallback in kinds()) is disable_tqdm
    quiet_progress(trainer)
    assert PrinterCallback not in kinds() and ProgressCallback not in kinds()
    assert kinds().count(ProgressBarCallback) == 1
