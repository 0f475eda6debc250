"""Merge a LoRA adapter into its base model: a plain transformers model directory, no PEFT needed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from sqlora.constants import ADAPTER_META


def merge_adapter(
    adapter: str | Path,
    output: str | Path,
    base_model: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: str = "cpu",
) -> Path:
    """Fold the adapter into ``dtype`` base weights on ``device``; save safetensors + tokenizer to ``output``.

    A QLoRA adapter (``sqlora.json`` says ``quantized``) learned to correct the NF4 weights, not the original
    ones: it is folded into the NF4 weights dequantized to float32 (transformers' ``dequantize``), so the merged
    model computes what was trained. Folding it into the original weights instead costs accuracy
    (docs/training.md, "Merging").
    """
    from peft import PeftModel

    from sqlora.models.loading import load_merged_qlora, load_model, load_tokenizer

    adapter = Path(adapter)
    meta_path = adapter / ADAPTER_META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    base = base_model or meta.get("base_model")
    if meta.get("quantized", False):
        merged = load_merged_qlora(base, str(adapter), device, dtype)
    else:
        model = load_model(base, device=device, dtype=dtype)
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    output = Path(output)
    merged.save_pretrained(output, safe_serialization=True)
    load_tokenizer(base).save_pretrained(output)
    if meta_path.exists():
        shutil.copy(meta_path, output / ADAPTER_META)
        merged_meta = {**meta, "base_model": str(output), "merged_from": str(adapter)}
        (output / ADAPTER_META).write_text(json.dumps(merged_meta, indent=2))
    return output
