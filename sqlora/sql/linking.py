"""Schema linking by question: keep the tables and columns a question is likely about (no model, no gold).

A model fine-tuned on contexts pruned to what the gold query uses (the sql-create-context style) sees a
whole database schema at inference as a different task. :func:`question_pruned_tables` narrows a schema the
way the gold pruning would, guessing from the question's words: tables whose name or columns share words with
the question, the tables joining them (foreign keys), and in each table the columns the question names plus
the keys needed to join. Words are compared as lower-case stems (snake_case and camelCase split).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from sqlora.sql.schema import Table

_STOPWORDS = frozenset(
    {
        "a", "an", "the", "of", "in", "on", "for", "to", "and", "or", "by", "with", "what", "which", "who",
        "whom", "whose", "how", "many", "much", "is", "are", "was", "were", "be", "been", "do", "does", "did",
        "list", "show", "give", "find", "return", "all", "each", "every", "that", "this", "those", "these",
        "there", "their", "its", "from", "as", "at", "than", "me", "number", "count", "total", "average", "per",
        "name", "names"
    }
)  # fmt: skip


class Link(NamedTuple):
    """A foreign key: ``table.column`` references ``ref_table.ref_column``."""

    table: str
    column: str
    ref_table: str
    ref_column: str


def words(text: str) -> set[str]:
    """Lower-case word stems of a question or an identifier (snake_case and camelCase split)."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    out = set()
    for word in re.split(r"[^A-Za-z0-9]+", text.lower()):
        if len(word) < 2 or word in _STOPWORDS:
            continue
        out.add(_stem(word))
    return out


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def question_pruned_tables(question: str, tables: Sequence[Table], links: Sequence[Link] = ()) -> list[Table]:
    """The tables of ``tables`` that ``question`` is likely about, whole, in schema order.

    Tables are ranked by 3 x the words their name shares with the question plus the number of their columns
    that share a word; the best two are kept, with a table that joins them (foreign keys) when they are not
    linked directly. With no word in common the whole schema is returned: pruning then would only guess.
    Columns are kept whole: pruning them by the question's words kept every column the gold query needs in
    only 35 % of validation questions (``bench/schema_linking.py``).
    """
    asked = words(question)
    scores = {t.name: table_score(asked, t) for t in tables}
    chosen = sorted((t.name for t in tables if scores[t.name] > 0), key=lambda name: -scores[name])[:2]
    if not chosen:
        return list(tables)
    if len(chosen) == 2 and not _linked(*chosen, links):
        bridges = [t.name for t in tables if _linked(t.name, chosen[0], links) and _linked(t.name, chosen[1], links)]
        chosen += sorted(bridges, key=lambda name: -scores[name])[:1]
    keep = {name.lower() for name in chosen}
    return [table for table in tables if table.name.lower() in keep]


def table_score(asked: set[str], table: Table) -> int:
    """3 x the words a table's name shares with a question's words, plus its columns that share one."""
    return 3 * len(asked & words(table.name)) + sum(1 for column in table.column_names if asked & words(column))


def _linked(a: str, b: str, links: Sequence[Link]) -> bool:
    pair = {a.lower(), b.lower()}
    return any({link.table.lower(), link.ref_table.lower()} == pair for link in links)
