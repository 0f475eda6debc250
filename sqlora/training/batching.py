"""Deterministic batch plans: length-grouped (little padding) or plain shuffled."""

from __future__ import annotations

import random


def batch_plan(
    lengths: list[int], batch_size: int, epoch: int, seed: int, group_by_length: bool = True
) -> list[list[int]]:
    """The micro-batches of one epoch, a pure function of (lengths, epoch, seed) so resumes are exact.

    Length grouping sorts shuffled mega-batches (50 batches each) by length, then shuffles the batches,
    like transformers' LengthGroupedSampler.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if group_by_length:
        mega = batch_size * 50
        order = [
            i
            for start in range(0, len(order), mega)
            for i in sorted(order[start : start + mega], key=lambda j: -lengths[j])
        ]
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if group_by_length:
        rng.shuffle(batches)
    return batches


def shard(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This process's share of a plan; every rank gets the same number of batches."""
    usable = len(batches) - len(batches) % world_size
    return batches[rank:usable:world_size]
