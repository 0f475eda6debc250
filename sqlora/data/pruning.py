"""Schema contexts pruned to what a gold query uses (the sql-create-context style, for Spider rows)."""

from __future__ import annotations

from sqlglot import exp

from sqlora.sql.parsing import parse_or_none
from sqlora.sql.schema import Table, render_create_tables


def gold_pruned_tables(
    sql: str, tables: list[Table] | tuple[Table, ...], dialect: str = "sqlite"
) -> list[Table] | None:
    """The tables ``sql`` reads, each with only the columns it mentions; None when it does not parse.

    Unqualified columns count for every used table that has them; a table whose columns are never
    named (``SELECT count(*) FROM t``) keeps its first column so that its CREATE TABLE stays valid.
    """
    tree = parse_or_none(sql, dialect)
    if tree is None:
        return None
    by_name = {table.name.lower(): table for table in tables}
    aliases: dict[str, str] = {}
    used: list[str] = []
    for node in tree.find_all(exp.Table):
        name = node.name.lower()
        if name in by_name:
            aliases[(node.alias or node.name).lower()] = name
            aliases[name] = name
            if name not in used:
                used.append(name)
    if not used:
        return None
    wanted: dict[str, set[str]] = {name: set() for name in used}
    for column in tree.find_all(exp.Column):
        qualifier = column.table.lower()
        owners = [aliases[qualifier]] if qualifier in aliases else used
        for owner in owners:
            if column.name.lower() in {c.lower() for c in by_name[owner].column_names}:
                wanted[owner].add(column.name.lower())
    pruned = []
    for name in used:
        table = by_name[name]
        columns = [c for c in table.columns if c[0].lower() in wanted[name]] or table.columns[:1]
        pruned.append(Table(name=table.name, columns=columns))
    return pruned


def with_gold_columns(
    sql: str, tables: list[Table] | tuple[Table, ...], linked: list[Table], dialect: str = "sqlite"
) -> list[Table]:
    """``linked`` (tables and columns picked from ``tables``) plus every table and column ``sql`` uses that it
    misses, in ``tables``' order: a context with the distractors a question-linked context has but no name the
    answer needs missing (for training rows; inference has no gold). Where ``linked`` is the whole schema (the
    linking found nothing), only what ``sql`` uses is kept, so contexts stay short enough to train on; where
    ``sql`` does not parse, ``linked`` is returned as it is.
    """
    gold = gold_pruned_tables(sql, tables, dialect)
    if gold is None:
        return list(linked)
    wanted: dict[str, set[str]] = {}
    if list(linked) != list(tables):
        wanted = {t.name.lower(): {c.lower() for c in t.column_names} for t in linked}
    for table in gold:
        wanted.setdefault(table.name.lower(), set()).update(c.lower() for c in table.column_names)
    return [
        Table(t.name, [c for c in t.columns if c[0].lower() in wanted[t.name.lower()]])
        for t in tables
        if t.name.lower() in wanted
    ]


def gold_pruned_context(sql: str, tables: list[Table] | tuple[Table, ...]) -> str | None:
    """CREATE TABLE context of only the tables and columns ``sql`` uses; None when it cannot tell."""
    pruned = gold_pruned_tables(sql, tables)
    return render_create_tables(pruned) if pruned else None
