"""Schema linking by question: keep the tables and columns a question is likely about (no model, no gold).

A model fine-tuned on contexts pruned to what the gold query uses (the sql-create-context style) sees a
whole database schema at inference as a different task. :func:`question_pruned_tables` narrows a schema the
way the gold pruning would, guessing from the question's words and the values it mentions: the tables whose
name, columns or stored values the question shares, the tables joining them (foreign keys), and in each table
the columns the question is likely to need. Words are compared as lower-case singular nouns (snake_case and
camelCase split; ``inflect``), and a name's word also matches a question word it abbreviates (``acc_bal`` →
"account balance", ``Jan`` → "January").
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import NamedTuple

from sqlora.sql.schema import Table

STOPWORDS = frozenset(
    {
        "a", "an", "the", "of", "in", "on", "for", "to", "and", "or", "by", "with", "what", "which", "who",
        "whom", "whose", "how", "many", "much", "is", "are", "was", "were", "be", "been", "do", "does", "did",
        "list", "show", "give", "find", "return", "all", "each", "every", "that", "this", "those", "these",
        "there", "their", "its", "from", "as", "at", "than", "me", "number", "count", "total", "average", "per",
        "name", "names"
    }
)  # fmt: skip
_YEAR = re.compile(r"\b(1[5-9]|20)\d\d\b")
MAX_VALUE_WORDS = 6
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
SMALL_TABLE = 4  # tables with at most this many columns are kept whole


class Link(NamedTuple):
    """A foreign key: ``table.column`` references ``ref_table.ref_column``."""

    table: str
    column: str
    ref_table: str
    ref_column: str


class ValueIndex:
    """Which columns hold which text values, to find the values a question mentions ("from Texas" → ``state``),
    and each column's stored text values as written (:meth:`stored`). ``partial`` names the tables whose values
    were read from some of their rows only: their columns have no :meth:`stored` list."""

    def __init__(self, columns: Iterable[tuple[str, str, Iterable[object]]] = (), partial: Iterable[str] = ()):
        self._columns: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self._stored: dict[tuple[str, str], list[str]] = {}
        cut = {table.lower() for table in partial}
        for table, column, values in columns:
            key = (table.lower(), column.lower())
            texts = self._stored.setdefault(key, []) if key[0] not in cut else []
            for value in values:
                if not isinstance(value, str):
                    continue
                texts.append(value)
                text = normalized(value)
                if len(text) >= 3 and text.count(" ") < MAX_VALUE_WORDS:
                    self._columns[text].add(key)

    def __len__(self) -> int:
        return len(self._columns)

    def stored(self, table: str, column: str) -> list[str] | None:
        """The distinct text values ``table.column`` holds (case-insensitive names); None if they were not all
        read."""
        return self._stored.get((table.lower(), column.lower()))

    def columns_in(self, question: str) -> set[tuple[str, str]]:
        """The (table, column) pairs, lower case, holding a value the question spells out (whole words)."""
        tokens = normalized(question).split()
        found: set[tuple[str, str]] = set()
        for start in range(len(tokens)):
            for end in range(start + 1, min(start + MAX_VALUE_WORDS, len(tokens)) + 1):
                found |= self._columns.get(" ".join(tokens[start:end]), set())
        return found


def normalized(text: str) -> str:
    """Lower case, runs of other characters than letters and digits as one space."""
    return _NOT_ALNUM.sub(" ", text.lower()).strip()


def words(text: str) -> set[str]:
    """Lower-case singular words of a question or an identifier (snake_case and camelCase split), no stopwords."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    return {
        _singular(word) for word in re.split(r"[^A-Za-z0-9]+", text.lower()) if len(word) >= 2 and word not in STOPWORDS
    }


@lru_cache(maxsize=65_536)
def _singular(word: str) -> str:
    if len(word) < 4 or word.isdigit():  # "bus", "his": too short to tell
        return word
    return _english().singular_noun(word) or word


@lru_cache(maxsize=1)
def _english():  # noqa: ANN202 - inflect.engine; imported on first use, it takes seconds to load
    import inflect

    return inflect.engine()


def shares_word(asked: set[str], identifier: str) -> int:
    """How many words of ``identifier`` the question's words contain, or start with (3+ letters: ``acc`` →
    "account")."""
    return sum(
        1
        for word in words(identifier)
        if word in asked or (len(word) >= 3 and not word.isdigit() and any(q.startswith(word) for q in asked))
    )


def question_pruned_tables(
    question: str, tables: Sequence[Table], links: Sequence[Link] = (), values: ValueIndex | None = None
) -> list[Table]:
    """The tables and columns of ``tables`` that ``question`` is likely about, in schema order.

    Tables are ranked by 3 x the words their name shares with the question, plus the columns that share a word,
    plus 2 x the columns holding a value the question spells out (``values``; ties go to the table whose name the
    question says); the best two are kept, with a table that joins them (foreign keys) when they are not linked
    directly. With no word in common the whole schema is returned: pruning then would only guess. In each kept
    table: see :func:`question_columns`.
    """
    asked = words(question)
    valued = values.columns_in(question) if values is not None else set()
    scores = {t.name: (table_score(asked, t, valued, links), shares_word(asked, t.name)) for t in tables}
    chosen = sorted((t.name for t in tables if scores[t.name][0] > 0), key=lambda name: scores[name], reverse=True)[:2]
    if not chosen:
        return list(tables)
    if len(chosen) == 2 and not _linked(*chosen, links):
        bridges = [t.name for t in tables if _linked(t.name, chosen[0], links) and _linked(t.name, chosen[1], links)]
        chosen += sorted(bridges, key=lambda name: scores[name], reverse=True)[:1]
    keep = {name.lower() for name in chosen}
    kept = [table for table in tables if table.name.lower() in keep]
    return question_columns(question, kept, links, valued)


def question_columns(
    question: str, tables: Sequence[Table], links: Sequence[Link] = (), valued: set[tuple[str, str]] = frozenset()
) -> list[Table]:
    """``tables`` cut to the columns ``question`` likely needs.

    Kept: a table's first column (usually its key), columns sharing a word with the question, join keys
    (declared foreign keys, or a column name another kept table also has), columns holding a value the question
    spells out (``valued``), name and title columns when the question asks for names, date and year columns
    when it mentions a year, and every column of a table with at most :data:`SMALL_TABLE` columns. On Spider's
    questions of 130 training databases the context keeps every table and column the gold query needs about as
    often as whole tables chosen by words alone did (80 against 81 %) with a third fewer columns (7.0 against
    10.8; ``bench/schema_linking.py --recall-only``).
    """
    asked = words(question)
    text = question.lower()
    wants_name = "name" in text or "title" in text
    mentions_year = bool(_YEAR.search(text))
    shared = Counter(c.lower() for t in tables for c in t.column_names)
    keys = {(x.table.lower(), x.column.lower()) for x in links} | {
        (x.ref_table.lower(), x.ref_column.lower()) for x in links
    }
    out = []
    for table in tables:
        if len(table.columns) <= SMALL_TABLE:
            out.append(table)
            continue
        name = table.name.lower()
        kept = [
            (column, kind)
            for i, (column, kind) in enumerate(table.columns)
            if i == 0
            or shares_word(asked, column)
            or shared[column.lower()] > 1
            or (name, column.lower()) in keys
            or (name, column.lower()) in valued
            or (wants_name and ("name" in column.lower() or "title" in column.lower()))
            or (mentions_year and ("year" in column.lower() or "date" in column.lower()))
        ]
        out.append(Table(table.name, kept))
    return out


def table_score(
    asked: set[str], table: Table, valued: set[tuple[str, str]] = frozenset(), links: Sequence[Link] = ()
) -> int:
    """3 x the words a table's name shares with a question's words, plus its columns that share one (not counting
    foreign keys: ``genre_id`` says the question is about genres, not about the table holding it), plus 2 x its
    columns holding a value the question spells out."""
    name = table.name.lower()
    referencing = {x.column.lower() for x in links if x.table.lower() == name}
    return (
        3 * shares_word(asked, table.name)
        + sum(1 for column in table.column_names if column.lower() not in referencing and shares_word(asked, column))
        + 2 * sum(1 for column in table.column_names if (name, column.lower()) in valued)
    )


def _linked(a: str, b: str, links: Sequence[Link]) -> bool:
    pair = {a.lower(), b.lower()}
    return any({link.table.lower(), link.ref_table.lower()} == pair for link in links)
