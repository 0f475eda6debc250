"""Verified (question, SQL) pairs from a live database: profile, build candidates, execute, keep, deduplicate.

A candidate is kept only if it runs through ``Database.execute_readonly`` (the read-only gate, a timeout, a
row cap) and returns a meaningful result: at least one row, and not only NULLs. Pairs with the same query
shape (literals masked) and the same result are duplicates; so are pairs with the same SQL or question.
Families are drawn round-robin from seeded shuffles, so any ``max_pairs`` keeps every family represented.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlglot import exp

from sqlora.data.record import Example
from sqlora.synth.profile import Builder, profile_database
from sqlora.synth.templates import Candidate, all_candidates

if TYPE_CHECKING:
    from sqlora.db.connect import Database


class SynthError(ValueError):
    """The database offers nothing to generate pairs from (no tables, or every table empty)."""


@dataclass(frozen=True)
class Pair:
    """A kept pair: the question, its SQL in the database's dialect, and where it came from."""

    question: str
    sql: str
    family: str
    table: str
    rows: int

    def example(self, context: str, db_id: str | None, db_path: str | None = None) -> Example:
        return Example(question=self.question, context=context, sql=self.sql, db_id=db_id, db_path=db_path)


def shape(query: exp.Expression) -> str:
    """The query with every literal masked: pairs that differ only in values share a shape."""
    masked = query.copy().transform(lambda n: exp.Placeholder() if isinstance(n, exp.Literal) else n)
    return masked.sql()


def result_digest(rows: Iterable[tuple]) -> str:
    """An order-insensitive digest of result rows."""
    text = "\n".join(sorted(repr(tuple(row)) for row in rows))
    return hashlib.sha256(text.encode()).hexdigest()


def meaningful(rows: list[tuple]) -> bool:
    """At least one row and at least one non-NULL value."""
    return bool(rows) and any(value is not None for row in rows for value in row)


def _round_robin(candidates: list[Candidate], rng: random.Random) -> Iterable[Candidate]:
    by_family: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_family.setdefault(c.family, []).append(c)
    queues = []
    for family in sorted(by_family):
        group = by_family[family]
        rng.shuffle(group)
        queues.append(group)
    while any(queues):
        for queue in queues:
            if queue:
                yield queue.pop(0)


def generate_pairs(
    db: Database,
    max_pairs: int = 3000,
    seed: int = 0,
    timeout_s: float = 10.0,
    max_rows: int = 500,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Pair]:
    """Up to ``max_pairs`` verified, deduplicated pairs from ``db`` (deterministic for a database and seed).

    Raises :class:`SynthError` for a database without data and ``sqlora.db.DatabaseError`` when its schema
    cannot be read (unreachable server).
    """
    rng = random.Random(seed)
    b = Builder(db)
    tables, links = profile_database(db)
    if not tables:
        raise SynthError(f"{db!r} has no tables")
    if not any(t.rows for t in tables):
        raise SynthError(f"every table of {db!r} is empty")
    candidates = all_candidates(b, tables, links, rng)
    kept: list[Pair] = []
    seen_sql: set[str] = set()
    seen_question: set[str] = set()
    seen_result: set[tuple[str, str]] = set()
    for done, candidate in enumerate(_round_robin(candidates, rng), start=1):
        if on_progress:
            on_progress(done, len(candidates))
        if len(kept) >= max_pairs:
            break
        sql = b.sql(candidate.query)
        if sql in seen_sql or candidate.question in seen_question:
            continue
        try:
            result = db.execute_readonly(sql, timeout_s=timeout_s, max_rows=max_rows)
        except Exception:  # a candidate the database rejects is dropped, never fatal
            continue
        rows = [tuple(r) for r in result.rows]
        key = (shape(candidate.query), result_digest(rows))
        if not meaningful(rows) or key in seen_result:
            continue
        seen_sql.add(sql)
        seen_question.add(candidate.question)
        seen_result.add(key)
        kept.append(Pair(candidate.question, sql, candidate.family, candidate.table, len(rows)))
    return kept


def pair_context(db: Database, question: str, sql: str) -> str:
    """CREATE TABLE text of the tables and columns ``question`` is about (as ``Database.schema_context(question=...)``
    writes it for prompts) plus every table and column ``sql`` uses that the linking missed, in the database's order.

    Where the linking finds no table (it then keeps the whole schema), only what ``sql`` uses is kept, so contexts
    stay short enough to train on.
    """
    from sqlora.data.pruning import with_gold_columns
    from sqlora.db.context import question_tables
    from sqlora.sql.schema import render_create_tables

    tables = db.tables()
    kept = with_gold_columns(sql, tables, question_tables(db, question), db.dialect)
    return render_create_tables(kept)


def database_examples(db: Database, pairs: list[Pair]) -> list[Example]:
    """The pairs as sqlora examples (context: :func:`pair_context`; ``db_path`` for database files only)."""
    db_path = db.url.database if db.backend in ("sqlite", "duckdb") else None  # never a server URL
    return [p.example(pair_context(db, p.question, p.sql), db.name, db_path) for p in pairs]


def write_jsonl(examples: Iterable[Example], path: str | Path) -> int:
    """Write the sql-create-context layout (``question``, ``context``, ``answer``, ``db_id``); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for e in examples:
            row = {"question": e.question, "context": e.context, "answer": e.sql, "db_id": e.db_id}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
