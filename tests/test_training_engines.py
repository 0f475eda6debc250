"""The shipped multi-device setups: each engine gets what its guide requires (checked without a GPU).

The Trainer cannot start FSDP or DeepSpeed without an accelerator (accelerate refuses FSDP on CPU), so FSDP's
adapter saving runs here on torch's FSDP directly (gloo, one CPU process); the 2-process DDP run is in
test_training_runs.py, and bench/gpu_check.sh runs ZeRO-3 and FSDP through `sqlora train` on a GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from sqlora.training.arguments import training_arguments
from sqlora.training.config import TrainConfig
from sqlora.training.hardware import native_bf16, resolve_precision

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.mark.parametrize("name", ["ddp", "cpu-2proc"])
def test_accelerate_launch_configs_are_valid(name: str) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    path = CONFIGS / "accelerate" / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    loaded = load_config_from_file(str(path))  # accelerate's own parser: rejects unknown keys
    assert loaded.compute_environment.value == "LOCAL_MACHINE"
    assert loaded.distributed_type.value == "MULTI_GPU"  # torchrun-style launch; the Trainer picks CPU+gloo or NCCL
    # the run's own precision decides (bf16 only where native): the launcher must not override it
    assert raw["mixed_precision"] == "no"


# What transformers' DeepSpeed integration fills in from the run ("auto" anywhere else would reach DeepSpeed as is).
AUTO_FROM_THE_RUN = {
    "train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping",
    "bf16.enabled", "fp16.enabled", "zero_optimization.reduce_bucket_size",
    "zero_optimization.stage3_prefetch_bucket_size", "zero_optimization.stage3_param_persistence_threshold",
}  # fmt: skip


def _auto_keys(values: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in values.items():
        if isinstance(value, dict):
            keys |= _auto_keys(value, f"{prefix}{key}.")
        elif value == "auto":
            keys.add(prefix + key)
    return keys


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_leave_only_run_settings_to_auto(stage: int) -> None:
    values = json.loads((CONFIGS / "deepspeed" / f"zero{stage}.json").read_text())
    assert values["zero_optimization"]["stage"] == stage
    assert _auto_keys(values) <= AUTO_FROM_THE_RUN
    assert {"train_micro_batch_size_per_gpu", "gradient_accumulation_steps"} <= _auto_keys(values)


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_resolve_from_the_run(stage: int, tmp_path: Path, tiny_model_dir: Path) -> None:
    """Every "auto" in the shipped JSON is filled from sqlora's arguments and the model (what the Trainer does)."""
    pytest.importorskip("deepspeed", reason="DeepSpeed is the optional 'distributed' extra")
    from transformers import AutoConfig
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig, unset_hf_deepspeed_config

    path = CONFIGS / "deepspeed" / f"zero{stage}.json"
    config = TrainConfig(data="x.jsonl", output=str(tmp_path), batch_size=4, grad_accum=4, max_grad_norm=1.0)
    args = training_arguments(config, "bf16", total_steps=100, device="cpu")
    ds = HfTrainerDeepSpeedConfig(str(path))
    try:
        ds.trainer_config_process(args)
        model = type("Model", (), {"config": AutoConfig.from_pretrained(tiny_model_dir)})()
        ds.trainer_config_finalize(args, model, num_training_steps=100)
    finally:
        unset_hf_deepspeed_config()  # the config registers itself globally: later model loads must not see it
    assert "auto" not in json.dumps(ds.config)
    assert ds.config["zero_optimization"]["stage"] == stage and ds.is_zero3() == (stage == 3)
    assert ds.config["train_micro_batch_size_per_gpu"] == 4 and ds.config["gradient_accumulation_steps"] == 4
    assert ds.config["bf16"]["enabled"] is True and ds.config["fp16"]["enabled"] is False
    assert ds.config["gradient_clipping"] == 1.0
    if stage == 3:  # the adapter is gathered whole for saving
        assert ds.config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_fsdp_config_follows_peft_qlora_guide(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FSDP_CPU_RAM_EFFICIENT_LOADING", "false")  # restored after the test
    config = TrainConfig(data="x.jsonl", output=str(tmp_path), fsdp=str(CONFIGS / "fsdp" / "qlora.yaml"))
    args = training_arguments(config, "bf16", total_steps=100, device="cpu")
    plugin = args.fsdp_plugin_args
    assert plugin["fsdp_version"] == 1 and plugin["reshard_after_forward"] == "full_shard"
    assert plugin["use_orig_params"] is False and plugin["sync_module_states"] is True
    assert plugin["cpu_ram_efficient_loading"] is True and plugin["state_dict_type"] == "FULL_STATE_DICT"
    import os

    assert os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"  # transformers loads on rank 0 only


def test_sharded_qlora_model_for_fsdp(tiny_model_dir: Path) -> None:
    """Sharded runs: 4-bit data stored in the compute dtype, no device_map, PEFT's wrap policy finds every unit."""
    from peft.utils.other import fsdp_auto_wrap_policy
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    from sqlora.training.model import build_model, quantization_config

    assert quantization_config(torch.bfloat16, sharded=True).bnb_4bit_quant_storage == torch.bfloat16
    assert quantization_config(torch.bfloat16, sharded=False).bnb_4bit_quant_storage == torch.uint8
    config = TrainConfig(data="x.jsonl", model=str(tiny_model_dir))
    model = build_model(config, "bf16", "cpu", sharded=True)
    assert getattr(model.get_base_model(), "hf_device_map", None) is None
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    assert frozen == {torch.bfloat16}  # one dtype per FSDP unit: the packed 4-bit data too
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    policy = fsdp_auto_wrap_policy(model)
    layers = [m for m in model.modules() if isinstance(m, LlamaDecoderLayer)]
    lora = [m for name, m in model.named_modules() if name.endswith(("lora_A.default", "lora_B.default"))]
    assert layers and lora
    assert all(policy(module=m, recurse=False, nonwrapped_numel=0) for m in layers + lora)


def test_precision_is_bf16_only_where_native() -> None:
    assert native_bf16({"avx2", "avx512f", "avx512_bf16"}) and native_bf16({"amx_bf16", "amx_tile"})
    assert not native_bf16({"avx2", "avx512f", "avx512bw"})  # AVX512 without BF16: emulated, slower than fp32
    assert resolve_precision("fp16", "cuda") == "fp16" and resolve_precision("no", "cpu") == "no"
    assert resolve_precision("auto", "cpu") in ("bf16", "no")


def test_fsdp_adapter_saved_from_the_gathered_state_dict_and_loaded_back(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Real FSDP1 (gloo, one CPU process) with PEFT's auto-wrap policy: the adapter written from the gathered
    state dict has PEFT's keys and the trained values (PEFT's own lookup misses names inside FSDP wrappers), and
    loading it into a freshly wrapped model, as a resumed run does, restores them."""
    import torch.distributed as dist
    from peft import LoraConfig, get_peft_model
    from peft.utils import get_peft_model_state_dict
    from peft.utils.other import fsdp_auto_wrap_policy
    from safetensors.torch import save_file
    from torch.distributed.fsdp import FullStateDictConfig, ShardingStrategy, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from transformers import AutoModelForCausalLM

    from sqlora.training.trainer import load_lora_weights, lora_weights

    def wrapped_lora_model():
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
        model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
        wrapped = FSDP(
            model,
            auto_wrap_policy=fsdp_auto_wrap_policy(model),
            use_orig_params=False,
            sharding_strategy=ShardingStrategy.FULL_SHARD,
            device_id=torch.device("cpu"),
        )
        return model, wrapped

    torch.manual_seed(0)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        model, wrapped = wrapped_lora_model()
        optimizer = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-2)
        ids = torch.randint(0, 1000, (2, 16))
        for _ in range(2):
            wrapped(input_ids=ids, labels=ids).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        config = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
        with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT, config):
            gathered = wrapped.state_dict()
        with FSDP.summon_full_params(wrapped):
            trained = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_B" in n}
        weights = lora_weights(gathered)
        save_file(weights, str(tmp_path / "adapter_model.safetensors"))
        fresh, fresh_wrapped = wrapped_lora_model()  # what a resumed run starts from: new LoRA weights, B zero
        load_lora_weights(fresh_wrapped, tmp_path / "adapter_model.safetensors")
        with FSDP.summon_full_params(fresh_wrapped):
            resumed = {n: p.detach().clone() for n, p in fresh.named_parameters() if "lora_B" in n}
    finally:
        dist.destroy_process_group()
    reference = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    assert set(weights) == set(get_peft_model_state_dict(reference))
    lora_b = {k: v for k, v in weights.items() if "lora_B" in k}
    assert lora_b and all(float(v.abs().sum()) > 0 for v in lora_b.values())  # trained, not the zero init
    for name, value in trained.items():
        clean = name.replace("_fsdp_wrapped_module.", "").replace(".default.", ".")
        torch.testing.assert_close(weights[clean], value)
        torch.testing.assert_close(resumed[name], value)  # resume under FSDP restores the trained adapter
