"""Answer-only, SQL-weighted cross-entropy that computes logits only where the loss needs them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sqlora.training.features import IGNORE


def _causal_lm(model: nn.Module) -> nn.Module:
    """The underlying *ForCausalLM module, under a PEFT wrapper if there is one."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


class AnswerLoss(nn.Module):
    """Wraps a causal LM so that ``forward(batch)`` returns the weighted answer loss.

    The transformer body runs on every token, but the vocabulary projection (the largest matrix of
    a small model) runs only on the positions that predict answer tokens.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, labels, weights) -> tuple[torch.Tensor, torch.Tensor]:
        lm = _causal_lm(self.model)
        body = getattr(lm, lm.base_model_prefix)
        hidden = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        targets = labels[:, 1:]
        keep = targets != IGNORE
        logits = lm.get_output_embeddings()(hidden[:, :-1][keep]).float()
        token_loss = F.cross_entropy(logits, targets[keep], reduction="none")
        token_weights = weights[:, 1:][keep]
        loss = (token_loss * token_weights).sum() / token_weights.sum().clamp_min(1e-8)
        return loss, keep.sum()
