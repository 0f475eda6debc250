"""The attention sqlora loads every model with: PyTorch's SDPA, under a mask in which every query attends to a key.

transformers' SDPA mask leaves each left-padding position of a batch with no key to attend to. Some GPU kernels
(cuDNN's SDPA on Hopper and Blackwell since PyTorch 2.11) return NaN for such rows, in the backward pass and in some
cases in the forward pass, and the NaN reaches real tokens through 0 x NaN in the next layer. Training batches,
TRL's GRPO batches and batched generation are all left-padded. ``ATTENTION`` is SDPA itself with transformers' mask,
except that a row that attends to nothing attends to every key instead: real tokens see exactly what they saw, so
logits and losses are unchanged, and padding rows are finite.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

ATTENTION = "sqlora_sdpa"
"""The ``attn_implementation`` name sqlora passes to ``from_pretrained``."""


def sdpa_mask_without_empty_rows(*args, **kwargs) -> torch.Tensor | None:
    """transformers' SDPA mask, with each row that attends to nothing opened to every key."""
    mask = sdpa_mask(*args, **kwargs)
    if mask is None or mask.dtype != torch.bool:
        return mask
    return mask | ~mask.any(dim=-1, keepdim=True)


def use_sqlora_attention(model: torch.nn.Module) -> None:
    """Switch a model a caller loaded with plain SDPA (transformers' default) to ``ATTENTION``; any other attention
    (eager, flash-attention, a custom kernel) is the caller's choice and stays."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) == "sdpa":
        model.set_attn_implementation(ATTENTION)


AttentionInterface.register(ATTENTION, sdpa_attention_forward)
AttentionMaskInterface.register(ATTENTION, sdpa_mask_without_empty_rows)
