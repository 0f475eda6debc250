"""bench/adapter_blend.py: the blended adapter's update is exactly (1 - w) x the first's + w x the second's."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from sqlora.constants import ADAPTER_META

BLEND_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "adapter_blend.py"


def _blend_module():
    spec = importlib.util.spec_from_file_location("adapter_blend", BLEND_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random_adapter(base_dir: Path, out: Path, seed: int) -> None:
    """A LoRA adapter on q/v with random (non-zero) A and B, plus the sqlora.json naming its base model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.normal_(0, 0.1)
    peft_model.save_pretrained(out)
    (out / ADAPTER_META).write_text(json.dumps({"base_model": str(base_dir), "seed": seed}))


def _updates(base_dir: Path, adapter: Path) -> dict[str, torch.Tensor]:
    """Each adapted weight's LoRA update (merged weight minus base weight)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    before = {name: p.detach().clone() for name, p in base.named_parameters()}
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    return {
        name: p.detach() - before[name]
        for name, p in merged.named_parameters()
        if name.endswith(("q_proj.weight", "v_proj.weight"))
    }


@pytest.mark.parametrize("weight", [0.25, 1.0])
def test_blend_is_the_weighted_sum_of_updates(tmp_path, tiny_model_dir, weight):
    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "blend"
    _random_adapter(tiny_model_dir, first, seed=1)
    _random_adapter(tiny_model_dir, second, seed=2)

    _blend_module().blend(str(first), str(second), weight, out)

    assert (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / ADAPTER_META).read_text())["seed"] == 1  # the first adapter's metadata
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 8  # ranks stacked: 4 + 4
    want_first, want_second = _updates(tiny_model_dir, first), _updates(tiny_model_dir, second)
    got = _updates(tiny_model_dir, out)
    assert set(got) == set(want_first) and len(got) == 4
    for name, update in got.items():
        expected = (1 - weight) * want_first[name] + weight * want_second[name]
        assert update.abs().max() > 1e-3
        torch.testing.assert_close(update, expected, atol=1e-5, rtol=1e-4)


def test_a_blend_folded_to_a_rank_is_the_best_approximation_of_that_rank(tmp_path, tiny_model_dir):
    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "folded"
    _random_adapter(tiny_model_dir, first, seed=1)
    _random_adapter(tiny_model_dir, second, seed=2)
    (second / "train_config.yaml").write_text("lora_r: 4\n")

    _blend_module().blend(str(first), str(second), 0.75, out, rank=4)

    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    assert (out / "train_config.yaml").read_text() == "lora_r: 4\n"  # the recipe's last training
    want_first, want_second = _updates(tiny_model_dir, first), _updates(tiny_model_dir, second)
    for name, update in _updates(tiny_model_dir, out).items():
        expected = 0.25 * want_first[name] + 0.75 * want_second[name]
        singular = torch.linalg.svdvals(expected.float())
        best_error = singular[4:].square().sum().sqrt()  # Eckart-Young: no rank-4 matrix is closer
        assert torch.linalg.matrix_rank(update.float(), atol=1e-4) <= 4
        assert (update - expected).norm() <= best_error * 1.01 + 1e-5
