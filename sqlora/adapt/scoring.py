"""Execution accuracy on a user's database (any backend), through the read-only gate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sqlora.data.record import Example
from sqlora.evaluation.execution import has_top_level_order_by, results_match
from sqlora.sql.dialects import DialectError
from sqlora.sql.to_dialect import transpile_from_sqlite

if TYPE_CHECKING:
    from sqlora.db.connect import Database
    from sqlora.evaluation.runner import Generator

MAX_ROWS = 1000


@dataclass
class Scored:
    """One answer compared with the gold by execution (``correct`` is None when the gold itself failed)."""

    question: str
    gold: str
    pred: str
    correct: bool | None
    error: str | None = None


def compare(db: Database, gold_sql: str, pred_sql: str, timeout_s: float = 10.0) -> tuple[bool | None, str | None]:
    """(correct, error): Spider-style result equality of ``pred_sql`` and ``gold_sql`` on ``db``."""
    try:
        gold = db.execute_readonly(gold_sql, timeout_s=timeout_s, max_rows=MAX_ROWS)
    except Exception as err:
        return None, f"gold failed: {err}"
    if not pred_sql.strip():
        return False, "no SQL"
    try:
        pred = db.execute_readonly(pred_sql, timeout_s=timeout_s, max_rows=MAX_ROWS)
    except Exception as err:
        return False, str(err).splitlines()[0] if str(err) else type(err).__name__
    if pred.truncated != gold.truncated:
        return False, "one result exceeds the row cap"
    return results_match(gold.rows, pred.rows, has_top_level_order_by(gold_sql)), None


def in_dialect(sql: str, dialect: str, context: str) -> str:
    """A generated (SQLite) answer in ``dialect``; unchanged when it cannot be rewritten (it then fails as itself)."""
    try:
        return transpile_from_sqlite(sql, dialect, context) if sql.strip() else sql
    except DialectError:
        return sql


def score(
    db: Database,
    examples: Sequence[Example],
    generator: Generator,
    label: str = "scoring",
    batch_size: int = 8,
    progress: bool = True,
) -> dict:
    """Generate SQL for every example and score it on ``db``: ``{"n", "n_scored", "ex", "rows"}``.

    Gold SQL is in the database's dialect; answers (in SQLite, the training dialect), their literals grounded in
    the database's values, are rewritten for it first, as ``sqlora ask --db`` does.
    """
    rows: list[Scored] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task(label, total=len(examples))
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            answers = generator.generate_batch(
                [(e.question, e.context) for e in chunk], values=[db.value_index] * len(chunk)
            )
            for example, answer in zip(chunk, answers, strict=True):
                pred = in_dialect(answer.sql or "", db.dialect, example.context)
                correct, error = compare(db, example.sql, pred)
                rows.append(Scored(example.question, example.sql, pred, correct, error))
            bar.advance(task, len(chunk))
    scored = [r.correct for r in rows if r.correct is not None]
    ex = sum(scored) / len(scored) if scored else None
    return {"n": len(rows), "n_scored": len(scored), "ex": ex, "rows": [asdict(r) for r in rows]}
