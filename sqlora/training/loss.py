"""Answer-only, SQL-weighted cross-entropy over the logits of the answer positions alone."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sqlora.training.features import IGNORE


def logits_needed(labels: torch.Tensor) -> torch.Tensor:
    """The last positions that need logits, from the one before the earliest answer token to the end, as indices.

    Batches are left-padded (:func:`sqlora.training.features.collate`), so all answers end at the last position
    and the vocabulary projection, the largest matrix of a small model, runs on little more than the answers.
    The positions are an index tensor rather than a count: a count makes transformers slice the hidden states,
    and a strided slice sends the bf16 projection on CPU through a batched matmul that copies the whole
    vocabulary matrix once per row (about 10x slower); indexing gathers a contiguous copy of the few positions.
    """
    answer = labels != IGNORE
    length = labels.shape[1]
    if not bool(answer.any()):
        return torch.arange(length - 1, length, device=labels.device)
    first = int(answer.int().argmax(dim=1)[answer.any(dim=1)].min())
    return torch.arange(max(first - 1, 0), length, device=labels.device)


def answer_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Weighted mean cross-entropy of the answer tokens, and their count.

    ``logits`` are the last ``k`` positions' (those of :func:`logits_needed`); position ``p`` predicts token ``p + 1``.
    """
    k = logits.shape[1]
    targets = labels[:, labels.shape[1] - k + 1 :]
    token_weights = weights[:, weights.shape[1] - k + 1 :]
    keep = targets != IGNORE
    token_loss = F.cross_entropy(logits[:, :-1][keep].float(), targets[keep], reduction="none")
    kept_weights = token_weights[keep]
    loss = (token_loss * kept_weights).sum() / kept_weights.sum().clamp_min(1e-8)
    return loss, int(keep.sum())
