"""Length-grouped sampling whose order is a pure function of (seed, epoch), so a resumed run sees the same batches."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

MEGA_BATCH = 50  # batches per sorted mega-batch


class EpochLengthGroupedSampler(Sampler[int]):
    """Micro-batches of rows of similar length, in random order, seeded by (seed, epoch).

    Rows are shuffled, cut into mega-batches of 50 micro-batches, sorted by length inside each, cut into
    micro-batches of ``batch_size`` (little padding), and the micro-batches are shuffled (the partial one, if
    any, stays last so every other batch keeps its rows). Shuffling the batches matters: transformers'
    ``LengthGroupedSampler`` leaves each mega-batch sorted longest first, so dozens of consecutive optimizer
    steps see ever shorter rows, a curriculum that no recipe asked for. The Trainer calls ``set_epoch`` at every
    epoch; the permutation never depends on the global RNG, so the batches after a resume are the ones the
    uninterrupted run would have seen.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int) -> None:
        self.batch_size = batch_size
        self.lengths = lengths
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        mega = self.batch_size * MEGA_BATCH
        order = [
            i
            for start in range(0, len(order), mega)
            for i in sorted(order[start : start + mega], key=lambda j: -self.lengths[j])
        ]
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        partial = [batches.pop()] if batches and len(batches[-1]) < self.batch_size else []
        shuffled = [batches[k] for k in torch.randperm(len(batches), generator=generator).tolist()]
        return iter([i for batch in shuffled + partial for i in batch])
