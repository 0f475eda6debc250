"""The model a run trains: the base (4-bit NF4 unless ``quantize: false``) with LoRA adapters on it."""

from __future__ import annotations

import torch

from sqlora.training.config import TrainConfig
from sqlora.training.hardware import PRECISION_DTYPES

LARGE_MODEL_PARAMETERS = 1_000_000_000


def quantization_config(compute_dtype: torch.dtype, sharded: bool):
    """NF4 + double quantization. Sharded runs (FSDP, ZeRO-3) store the 4-bit data in the compute dtype, so each
    shard holds one dtype (PEFT's QLoRA + FSDP guide)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_quant_storage=compute_dtype if sharded else torch.uint8,
    )


def load_base_model(config: TrainConfig, precision: str, device: str, local_rank: int, sharded: bool):
    """The frozen base model. The run's precision decides the 4-bit compute dtype and the load dtype.

    Sharded engines place (and, for ZeRO-3, partition) the weights themselves: no ``device_map`` then.
    """
    from transformers import AutoModelForCausalLM

    from sqlora.models.attention import ATTENTION
    from sqlora.models.loading import release_checkpoint_map, resolve_model

    dtype = PRECISION_DTYPES[precision] if device != "cpu" or sharded else torch.float32
    kwargs: dict = {"dtype": dtype, "attn_implementation": ATTENTION}
    if config.quantize:
        kwargs["quantization_config"] = quantization_config(PRECISION_DTYPES[precision], sharded)
        if not sharded:
            kwargs["device_map"] = {"": local_rank if device == "cuda" else "cpu"}
    model = AutoModelForCausalLM.from_pretrained(resolve_model(config.model), **kwargs)
    if config.quantize and device == "cpu":
        release_checkpoint_map(model)
        # bitsandbytes 0.50 on AVX512-BF16 CPUs repacks 4-bit weights for inference at the first eval-mode forward;
        # training forwards after that run a kernel without autograd and drop gradients. Keep them trainable.
        for module in model.modules():
            if hasattr(module, "support_avx512bf16_for_cpu"):
                module.support_avx512bf16_for_cpu = False
    return model


def wants_checkpointing(config: TrainConfig, device: str, parameters: int) -> bool:
    """``auto``: only for models over 1B parameters on GPU (on CPU it costs time and saves little)."""
    if config.gradient_checkpointing != "auto":
        return config.gradient_checkpointing == "on"
    return device != "cpu" and parameters > LARGE_MODEL_PARAMETERS


def build_model(config: TrainConfig, precision: str, device: str, local_rank: int = 0, sharded: bool = False):
    """The base model with LoRA adapters (fresh, or ``init_adapter``'s weights), ready for the Trainer."""
    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    model = load_base_model(config, precision, device, local_rank, sharded)
    if config.quantize and not sharded:
        # Upcasts the frozen float weights to fp32 (fp16 overflows) and enables input gradients; sharded runs keep
        # one dtype per shard instead (TRL's and PEFT's sharded-QLoRA recipes skip it too).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if config.init_adapter:
        from sqlora.models.shipped import resolve_adapter

        model = PeftModel.from_pretrained(model, resolve_adapter(config.init_adapter), is_trainable=True)
    else:
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.target_modules,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    if precision == "bf16" and device == "cpu":
        frozen_weights_to_bf16(model)
    model.train()
    return model


def frozen_weights_to_bf16(model) -> None:
    """Keep the frozen float weights (embeddings, norms) in bf16, so the residual stream and the activations
    saved for backward are bf16 rather than fp32 (half the memory).

    prepare_model_for_kbit_training upcasts them to fp32 because fp16 overflows; bf16 has fp32's range.
    The LoRA weights stay fp32 for the optimizer.
    """
    for parameter in model.parameters():
        if not parameter.requires_grad and parameter.dtype == torch.float32:
            parameter.data = parameter.data.to(torch.bfloat16)
