"""Length-grouped sampling whose order is a pure function of (seed, epoch), so a resumed run sees the same batches."""

from __future__ import annotations

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler


class EpochLengthGroupedSampler(LengthGroupedSampler):
    """transformers' length grouping (sorted mega-batches of 50 batches, shuffled), seeded per epoch.

    The Trainer calls ``set_epoch`` at every epoch; the permutation never depends on the global RNG, so the
    batches after a resume are the ones the uninterrupted run would have seen.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        self.generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return super().__iter__()
