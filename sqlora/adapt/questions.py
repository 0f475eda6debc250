"""A user's own questions with gold SQL (JSONL/JSON/CSV), for scoring on the real database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlora.data.loaders import DataError, iter_file_rows
from sqlora.data.record import Example

if TYPE_CHECKING:
    from sqlora.db.connect import Database

SQL_KEYS = ("sql", "query", "answer", "gold")


def load_questions(path: str | Path, db: Database) -> list[Example]:
    """Rows with ``question`` and one of ``sql``/``query``/``answer``/``gold``; DataError when none are usable.

    Each question gets the schema context ``sqlora ask --db`` would give it (``db.schema_context(question=...)``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such questions file")
    out = []
    for _, row, problem in iter_file_rows(path):
        if problem or not row:
            continue
        question = str(row.get("question") or "").strip()
        sql = next((str(row[k]).strip() for k in SQL_KEYS if row.get(k)), "")
        if question and sql:
            out.append(Example(question=question, context=db.schema_context(question=question), sql=sql, db_id=db.name))
    if not out:
        raise DataError(f"{path}: no rows with a question and its SQL (columns: question and one of {SQL_KEYS})")
    return out
