"""Schema linking after the fact: rename the table and column names a query gets wrong to the schema's own.

Small models often write ``name`` for ``song_name``, ``T1.id`` for a column that lives in ``T2``, or leave a
join column unqualified. SQLite names the first such problem in its error (``no such column: T1.nme``,
``no such table: singers``, ``ambiguous column name: id``); :func:`fix_identifier` fixes that one name, on
the parsed query, with the closest name the schema has. Nothing is invented: a name with no close match in
the tables the query already uses is left alone (the query stays invalid), except a bare word compared with a
column (``job_id = PU_MAN``), which was meant as a value and is quoted (``job_id = 'PU_MAN'``).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.sql.schema import Table

MIN_SIMILARITY = 0.5  # below this, two names are not the same thing misspelled
_ERROR = re.compile(r"(no such column|no such table|ambiguous column name): (\S+)")


def name_key(name: str) -> str:
    """A name as it is compared: case and underscores ignored."""
    return name.lower().replace("_", "")


def closest_name(name: str, options: list[str]) -> str | None:
    """The option most similar to ``name`` (case and underscores ignored), if similar enough."""
    if not options:
        return None
    best = max(options, key=lambda option: SequenceMatcher(None, name_key(name), name_key(option)).ratio())
    return best if SequenceMatcher(None, name_key(name), name_key(best)).ratio() >= MIN_SIMILARITY else None


def _tables_by_reference(tree: exp.Expression, tables: dict[str, Table]) -> dict[str, Table]:
    """How the query refers to schema tables (its alias, else its name), in FROM/JOIN order."""
    refs: dict[str, Table] = {}
    for node in tree.find_all(exp.Table):
        table = tables.get(node.name.lower())
        if table is not None:
            refs.setdefault(node.alias_or_name, table)
    return refs


def _owners(name: str, refs: dict[str, Table]) -> list[str]:
    """The query's references to tables that have a column ``name``."""
    return [ref for ref, table in refs.items() if name.lower() in (c.lower() for c in table.column_names)]


def _rename_table(tree: exp.Expression, name: str, tables: dict[str, Table]) -> bool:
    replacement = closest_name(name, [t.name for t in tables.values()])
    if replacement is None:
        return False
    for node in tree.find_all(exp.Table):
        if node.name.lower() == name.lower():
            node.set("this", exp.to_identifier(replacement))
    return True


def _columns_named(tree: exp.Expression, name: str, qualifier: str | None) -> list[exp.Column]:
    return [
        column
        for column in tree.find_all(exp.Column)
        if column.name.lower() == name.lower() and (qualifier is None or column.table.lower() == qualifier.lower())
    ]


def _rename_column(tree: exp.Expression, reference: str, refs: dict[str, Table]) -> bool:
    """Fix ``col`` or ``alias.col``: move it to the query's table that has it, else the closest column."""
    qualifier, _, name = reference.rpartition(".")
    columns = _columns_named(tree, name, qualifier or None)
    if not columns:
        return False
    owners = _owners(name, refs)
    if qualifier and owners:  # the column exists, in another table of the query: requalify
        for column in columns:
            column.set("table", exp.to_identifier(owners[0]))
        return True
    by_lower = {ref.lower(): table for ref, table in refs.items()}
    scope = [by_lower[qualifier.lower()]] if qualifier.lower() in by_lower else list(refs.values())
    replacement = closest_name(name, [c for table in scope for c in table.column_names])
    if replacement is None:
        return not qualifier and _quote_compared_values(columns)
    for column in columns:
        column.set("this", exp.to_identifier(replacement))
    return True


def _quote_compared_values(columns: list[exp.Column]) -> bool:
    """Turn unknown bare names compared with a column (``job_id = PU_MAN``) into string values."""
    quoted = False
    for column in columns:
        comparison = column.parent
        if isinstance(comparison, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            other = comparison.expression if comparison.this is column else comparison.this
            if isinstance(other, exp.Column):
                column.replace(exp.Literal.string(column.name))
                quoted = True
    return quoted


def _qualify_ambiguous(tree: exp.Expression, name: str, refs: dict[str, Table]) -> bool:
    """Qualify an ambiguous column with the first table of the query that has it (a join key, usually)."""
    owners = _owners(name, refs)
    columns = [column for column in _columns_named(tree, name, None) if not column.table]
    if not owners or not columns:
        return False
    for column in columns:
        column.set("table", exp.to_identifier(owners[0]))
    return True


def fix_identifier(sql: str, error: str, schema: list[Table]) -> str | None:
    """``sql`` with the one name SQLite's ``error`` complains about fixed, or None when it cannot be."""
    match = _ERROR.search(error)
    if match is None:
        return None
    kind, name = match.group(1), match.group(2)
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (ParseError, TokenError, RecursionError):
        return None
    tables = {table.name.lower(): table for table in schema}
    if kind == "no such table":
        fixed = _rename_table(tree, name, tables)
    elif kind == "no such column":
        fixed = _rename_column(tree, name, _tables_by_reference(tree, tables))
    else:
        fixed = _qualify_ambiguous(tree, name, _tables_by_reference(tree, tables))
    return tree.sql(dialect="sqlite") if fixed else None
