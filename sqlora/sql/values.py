"""Literal grounding: a filter on a text value the column does not hold, pointed at the value the database stores.

Small models write the literal the question suggests, not the one stored: ``state = 'NY'`` where the rows say
``'New York'``, ``pPos = 'Goalie'`` for ``'goalie'``, ``loan_type = 'Business Loan'`` for ``'Business'``. SQLite
compares text exactly, so the query runs and returns nothing. :func:`ground_literals` replaces such a literal
(in ``=``, ``!=`` and ``IN``) when the column's stored values (a :class:`~sqlora.sql.linking.ValueIndex` read
from the database) give a clear choice:

1. the stored value that differs only in case, spacing or punctuation (``'Goalie'`` -> ``'goalie'``);
2. else the stored value the question spells out (whole words, not only common ones like "the": "branches in
   New York state" -> ``'New York'``) and no other literal of the query already uses; when it spells out
   several, the one closest to the literal;
3. else nothing: a literal no rule grounds is left as written.

Literals the column holds, ``LIKE`` patterns, and columns whose values were not all read are never touched.
"""

from __future__ import annotations

from difflib import SequenceMatcher

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.sql.linking import STOPWORDS, ValueIndex, normalized

_COMPARISONS = (exp.EQ, exp.NEQ)


def _scope_tables(select: exp.Select) -> dict[str, str]:
    """alias (or name), lower case -> table name, for the tables a SELECT reads directly."""
    sources = [select.args.get("from_"), *(select.args.get("joins") or [])]
    tables = {}
    for source in sources:
        node = source.this if source is not None else None
        if isinstance(node, exp.Table):
            tables[node.alias_or_name.lower()] = node.name
    return tables


def _column_values(column: exp.Column, values: ValueIndex) -> list[str] | None:
    """The stored text values of ``column``, resolved through its SELECT's tables; None if unknown or ambiguous."""
    select = column.find_ancestor(exp.Select)
    if select is None:
        return None
    tables = _scope_tables(select)
    if column.table:
        table = tables.get(column.table.lower())
        return values.stored(table, column.name) if table else None
    found = [stored for table in tables.values() if (stored := values.stored(table, column.name)) is not None]
    return found[0] if len(found) == 1 else None


def _says_something(text: str) -> bool:
    """Whether a value the question spells out is more than common words ("the" is no airport code here)."""
    return len(text) >= 2 and any(word not in STOPWORDS for word in text.split())


def grounded_value(literal: str, stored: list[str], question: str, used: frozenset[str] = frozenset()) -> str | None:
    """The stored value ``literal`` stands for (rules 1 and 2 of the module docstring), or None; ``used``: the
    query's literals (normalized), which rule 2 does not choose."""
    if literal in stored:
        return None
    key = normalized(literal)
    forms = [(value, normalized(value)) for value in stored]  # each stored value normalized once
    same = next((value for value, form in forms if form == key), None)
    if same is not None:
        return same
    asked = f" {normalized(question)} "
    spelled = [
        (value, form) for value, form in forms if f" {form} " in asked and form not in used and _says_something(form)
    ]
    if not spelled:
        return None
    return max(spelled, key=lambda pair: SequenceMatcher(None, key, pair[1]).ratio())[0]


def _text(node: exp.Expression) -> str | None:
    """The text of a string literal, or of a double-quoted name SQLite reads as one (``= "Texas"``)."""
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    if isinstance(node, exp.Column) and not node.table and node.this.quoted:
        return node.name
    return None


def _literals(node: exp.Expression) -> list[tuple[exp.Column, exp.Expression, str]]:
    """The (column, literal node, text) triples a comparison or IN list filters on."""
    if isinstance(node, exp.In):
        column, items = node.this, node.expressions
    elif _text(node.expression) is not None:
        column, items = node.this, [node.expression]
    else:
        column, items = node.expression, [node.this]
    if not isinstance(column, exp.Column) or _text(column) is not None:
        return []
    return [(column, item, text) for item in items if (text := _text(item)) is not None]


def ground_literals(sql: str, question: str, values: ValueIndex) -> str | None:
    """``sql`` with text literals the filtered column does not hold replaced by the stored value they stand for;
    None when nothing changed (see the module docstring)."""
    if "'" not in sql and '"' not in sql:
        return None
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (ParseError, TokenError, RecursionError):
        return None
    filters = [found for node in tree.find_all(*_COMPARISONS, exp.In) for found in _literals(node)]
    used = frozenset(normalized(text) for _, _, text in filters)
    changed = False
    for column, literal, text in filters:
        stored = _column_values(column, values)
        if stored:
            value = grounded_value(text, stored, question, used)
            if value is not None:
                literal.replace(exp.Literal.string(value))
                changed = True
    return tree.sql(dialect="sqlite") if changed else None
