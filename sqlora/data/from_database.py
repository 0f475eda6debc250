"""Question/SQL pairs made from a user's own database (kept for imports; the generator is :mod:`sqlora.synth`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlora.data.record import Example
from sqlora.synth import database_examples, generate_pairs

if TYPE_CHECKING:
    from sqlora.db.connect import Database


def examples_from_database(
    db: Database, max_pairs: int = 3000, seed: int = 0, timeout_s: float = 10.0
) -> list[Example]:
    """Verified, deduplicated pairs from ``db`` as examples (see :func:`sqlora.synth.generate_pairs`)."""
    return database_examples(db, generate_pairs(db, max_pairs=max_pairs, seed=seed, timeout_s=timeout_s))
