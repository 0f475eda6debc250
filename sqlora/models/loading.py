"""Load base models and tokenizers: by hub id, local directory or the embedded default."""

from __future__ import annotations

from pathlib import Path

import torch

from sqlora.models.embedded import embedded_model_dir, is_embedded

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
"""Full-precision dtypes a model can decode in; ``nf4`` (4-bit base weights) is the other choice."""
PRECISION_NAMES = ("nf4", *PRECISIONS)


def precision_name(dtype: torch.dtype) -> str | None:
    """``fp32``/``bf16``/``fp16`` for a torch dtype (None for others)."""
    return next((name for name, candidate in PRECISIONS.items() if candidate == dtype), None)


def resolve_model(name: str | None) -> str:
    """A loadable path or hub id: None and the embedded aliases map to the converted embedded model."""
    if is_embedded(name):
        return str(embedded_model_dir())
    return str(Path(name)) if Path(name).exists() else name


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def compute_dtype(device: str | None = None) -> torch.dtype:
    """bf16 on GPUs that support it, fp16 on older GPUs, fp32 on CPU."""
    if (device or default_device()).startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def nf4_config(device: str | None = None):
    """4-bit NF4 with double quantization: the QLoRA storage format."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype(device),
    )


def load_merged_qlora(name: str | None, adapter: str, device: str = "cpu", dtype: torch.dtype | None = None):
    """A QLoRA adapter folded into the NF4 weights it was trained against, dequantized to ``dtype``.

    The result computes what was trained (not the adapter on the original weights) with plain float layers:
    no per-call dequantization and no adapter matmuls.
    """
    from peft import PeftModel

    model = load_model(name, quantize=True, device=device, dtype=dtype).dequantize()
    if dtype is not None:
        model.to(dtype)
    return PeftModel.from_pretrained(model, adapter).merge_and_unload().eval()


def inference_precision(precision: str | None, qlora_adapter: bool, device: str | None = None) -> str:
    """``precision`` checked, or the default: ``nf4`` for a QLoRA adapter, else the device's compute dtype."""
    if precision is None:
        return "nf4" if qlora_adapter else precision_name(compute_dtype(device))
    if precision not in PRECISION_NAMES:
        raise ValueError(f"unknown precision {precision!r}: use {', '.join(PRECISION_NAMES)}")
    return precision


def load_for_inference(name: str | None, adapter: str | None, qlora: bool, precision: str, device: str):
    """The model a generator decodes with, in ``precision`` (see :func:`inference_precision`).

    ``nf4`` keeps 4-bit base weights (an adapter stays a separate LoRA layer): the least memory. A float
    precision gives plain float layers with any adapter folded in: a QLoRA adapter (``qlora``) into its
    dequantized NF4 weights (what it was trained against), a LoRA adapter into the original weights.
    """
    if precision == "nf4":
        return load_model(name, quantize=True, device=device, adapter=adapter)
    if adapter and qlora:
        return load_merged_qlora(name, adapter, device, PRECISIONS[precision])
    return load_model(name, device=device, dtype=PRECISIONS[precision], adapter=adapter)


@torch.no_grad()
def release_checkpoint_map(model) -> None:
    """Copy the float tensors a 4-bit model still shares with its memory-mapped checkpoint into its own memory.

    Quantizing reads every full-precision weight through the safetensors memory map; while any tensor (the
    embeddings, the norms) still points into it, those pages stay resident: ~570 MB for the 135M embedded
    model, more than the 4-bit model itself. Copying the few float tensors releases the map.
    """
    for tensor in [*model.parameters(), *model.buffers()]:  # tied weights are listed once
        if tensor.is_floating_point() and tensor.device.type == "cpu":
            tensor.data = tensor.data.clone()


def load_tokenizer(name: str | None = None):
    """The model's tokenizer, with a pad token set (left padding is chosen by the caller)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name: str | None = None,
    quantize: bool = False,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    adapter: str | None = None,
):
    """A causal LM, optionally 4-bit NF4 quantized, optionally with a LoRA adapter (merged unless quantized)."""
    from transformers import AutoModelForCausalLM

    from sqlora.models.attention import ATTENTION

    device = device or default_device()
    kwargs: dict = {"dtype": dtype or compute_dtype(device), "attn_implementation": ATTENTION}
    if quantize:
        kwargs["quantization_config"] = nf4_config(device)
        kwargs["device_map"] = {"": device if device != "cuda" else 0}
    model = AutoModelForCausalLM.from_pretrained(resolve_model(name), **kwargs)
    if quantize:
        release_checkpoint_map(model)
    else:
        model.to(device)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if not quantize:  # fold the low-rank update into full-precision weights: no adapter cost per token
            model = model.merge_and_unload()
    model.eval()
    return model
