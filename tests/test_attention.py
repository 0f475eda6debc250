"""sqlora's attention: SDPA under transformers' mask, with each row that attends to nothing opened to every key."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.masking_utils import sdpa_mask

from sqlora.models.attention import ATTENTION, sdpa_mask_without_empty_rows


def _left_padded(width: int = 12) -> torch.Tensor:
    mask = torch.ones(3, width, dtype=torch.bool)
    mask[1, :4] = False
    mask[2, : width - 1] = False  # one real token
    return mask


def test_every_row_attends_to_something_and_real_rows_keep_their_keys() -> None:
    padding = _left_padded()
    args = {"batch_size": 3, "q_length": 12, "kv_length": 12, "attention_mask": padding}
    plain = sdpa_mask(**args)
    ours = sdpa_mask_without_empty_rows(**args)
    assert ours.shape == plain.shape == (3, 1, 12, 12) and ours.dtype == torch.bool
    empty = ~plain.any(dim=-1)
    assert empty.any()  # left padding does give transformers' mask rows with no key (the GPU NaN case)
    assert ours.any(dim=-1).all()
    assert torch.equal(ours[~empty], plain[~empty])  # every row that had keys: exactly the same keys
    assert ours[empty].all()  # a padding row attends to every key
    unpadded = {**args, "attention_mask": torch.ones(3, 12, dtype=torch.bool)}
    assert sdpa_mask_without_empty_rows(**unpadded) is None  # no padding: SDPA's causal fast path stays


def test_real_tokens_logits_and_greedy_answers_are_unchanged(tiny_model_dir) -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    padding = _left_padded()
    ids = torch.randint(3, 500, padding.shape)
    inputs = {"input_ids": ids, "attention_mask": padding.long()}
    with torch.no_grad():
        plain = model(**inputs).logits
        plain_answer = model.generate(**inputs, max_new_tokens=4, do_sample=False)
        model.set_attn_implementation(ATTENTION)
        ours = model(**inputs).logits
        answer = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert torch.equal(ours[padding], plain[padding])
    assert torch.isfinite(ours).all()
    assert torch.equal(answer, plain_answer)


def test_sqlora_loads_models_with_it(tiny_model_dir) -> None:
    from sqlora.models.loading import load_model
    from sqlora.training.config import TrainConfig
    from sqlora.training.model import load_base_model

    assert load_model(str(tiny_model_dir), device="cpu").config._attn_implementation == ATTENTION
    config = TrainConfig(model=str(tiny_model_dir), data="x.jsonl", quantize=False)
    assert load_base_model(config, "no", "cpu", 0, False).config._attn_implementation == ATTENTION


def test_a_model_the_caller_loaded_with_sdpa_is_switched(tiny_model_dir) -> None:
    from sqlora.inference.generator import SQLGenerator

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    sdpa = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    assert SQLGenerator.from_model(sdpa, tokenizer).model.config._attn_implementation == ATTENTION
    eager = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager")
    assert SQLGenerator.from_model(eager, tokenizer).model.config._attn_implementation == "eager"


def test_a_peft_model_the_caller_wrapped_is_switched_too(tiny_model_dir) -> None:
    from peft import LoraConfig, get_peft_model

    from sqlora.inference.generator import SQLGenerator

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    sdpa = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    wrapped = get_peft_model(sdpa, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    SQLGenerator.from_model(wrapped, tokenizer)
    inner = wrapped.get_base_model()
    assert inner.config._attn_implementation == ATTENTION
    # the layers read the implementation from the config they share with the model
    assert all(layer.self_attn.config._attn_implementation == ATTENTION for layer in inner.model.layers)
