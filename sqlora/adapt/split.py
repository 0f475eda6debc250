"""Validation split of generated pairs by template family and table, and the general rows mixed in."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from sqlora.data.record import Example
from sqlora.synth import Pair


def _bucket(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_pairs(pairs: Sequence[Pair], validation: float = 0.15, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """(train, validation): every (family, table) group lands wholly in one side, so validation shapes are unseen.

    At least one group goes to each side when there are two or more groups.
    """
    groups = sorted({f"{p.family}:{p.table}" for p in pairs}, key=lambda g: _bucket(g, seed))
    if len(groups) < 2:
        return list(pairs), []
    count = min(len(groups) - 1, max(1, round(len(groups) * validation)))
    held = set(groups[:count])
    train = [p for p in pairs if f"{p.family}:{p.table}" not in held]
    valid = [p for p in pairs if f"{p.family}:{p.table}" in held]
    return train, valid


def general_sample(examples: Sequence[Example], count: int, seed: int = 0) -> list[Example]:
    """``count`` rows drawn (seeded) from a general text-to-SQL set, so the model keeps what it knew."""
    if count <= 0 or not examples:
        return []
    rows = list(examples)
    return random.Random(seed).sample(rows, min(count, len(rows)))
