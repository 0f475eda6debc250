"""Deterministic train/validation/test splits by database (or schema), never by row."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlora.data.record import Example


@dataclass
class Splits:
    train: list[Example]
    validation: list[Example]
    test: list[Example]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def _bucket(group: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_group(
    examples: Sequence[Example],
    validation: float = 0.05,
    test: float = 0.05,
    seed: int = 0,
    holdout: Iterable[str] = (),
) -> Splits:
    """Split so that one database (db_id, or the schema text without one) lands in one split only.

    ``holdout`` names databases forced into the test split (e.g. an evaluation set of your own).
    """
    forced = set(holdout)
    parts = Splits([], [], [])
    for example in examples:
        if example.db_id in forced:
            parts.test.append(example)
            continue
        point = _bucket(example.group, seed)
        if point < test and not forced:
            parts.test.append(example)
        elif point < test + validation:
            parts.validation.append(example)
        else:
            parts.train.append(example)
    return parts


_TABLE_NAME = re.compile(
    r'CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"([^"]+)"|`([^`]+)`|\[([^\]]+)\]|([^\s(]+))', re.IGNORECASE
)


def _folded(text: str) -> str:
    return " ".join(text.lower().split())


def context_tables(context: str) -> frozenset[str]:
    """The table names a CREATE TABLE context shows, lower-cased."""
    return frozenset("".join(parts).lower() for parts in _TABLE_NAME.findall(context))


def deduplicate(examples: Iterable[Example]) -> list[Example]:
    """Drop repeats, keeping the first: the same question and SQL (ignoring case and spacing) on one database,
    shown the same tables.

    Keyed by the tables a context shows rather than its text, so a question that two sources give with the
    same tables differently written (sql-create-context and a gold-pruned Spider folder) is learned once, while
    the same question in a context with other tables (linked to the question) is a row of its own.
    """
    seen: set[tuple[str, str, str, frozenset[str]]] = set()
    kept = []
    for example in examples:
        key = (example.group, _folded(example.question), _folded(example.sql), context_tables(example.context))
        if key not in seen:
            seen.add(key)
            kept.append(example)
    return kept
