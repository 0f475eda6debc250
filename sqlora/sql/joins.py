"""Join repairs: conditions that compare a column with itself, and tables a query reads a column of but never joins.

Small models often write the same alias on both sides of a join condition. The query still runs, but the
condition is always true, so the join is a cross join and counts, sums and lists come out wrong. The slip is
mechanical: one side was meant to name the other table. :func:`fix_self_comparisons` points that side at the
joined table's matching column, found from the schema's column names alone (no foreign keys needed):

- the same column name (``T1.storm_id = T2.storm_id``);
- ``<table>_id`` against that table's ``id`` (``invoices.customer_id = customers.id``), and the reverse;
- failing both, a join key the two tables share (a ``<something>_id`` column in both), used for the whole
  condition.

Two tables' own ``id`` columns are never joined to each other.

A condition with no such match is left alone.

The other slip is a join left out: ``SELECT name FROM customer WHERE amount > 5000`` where ``amount`` is a
column of ``loan``, not of ``customer``. SQLite says ``no such column: amount``; :func:`join_missing_column`
joins the schema table that has that column on the key it shares with a table the query reads (found from the
names alone, as above) and reads the column from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.sql.identifiers import name_key
from sqlora.sql.schema import Table


def _table_keys(table: Table) -> set[str]:
    """The table's name as a column prefix would spell it: ``customers`` -> {customers, customer}."""
    key = name_key(table.name)
    return {key, key[:-1]} if key.endswith("s") else {key}


def _column(table: Table, key: str) -> str | None:
    return next((name for name in table.column_names if name_key(name) == key), None)


def _matching_column(column: str, owner: Table, other: Table) -> str | None:
    """The column of ``other`` that ``owner.column`` joins to, by name."""
    key = name_key(column)
    if key == "id":  # customers.id -> invoices.customer_id (two tables' own ids are not a join)
        return next((c for c in other.column_names if name_key(c) in {k + "id" for k in _table_keys(owner)}), None)
    same = _column(other, key)
    if same is not None:
        return same
    if key.endswith("id") and key[:-2] in _table_keys(other):  # customer_id -> customers.id
        return _column(other, "id")
    return None


def _shared_key(first: Table, second: Table) -> str | None:
    """A ``<something>_id`` column both tables have (the first in ``first``'s order); not their own ``id``."""
    keys = {name_key(c) for c in second.column_names} - {"id"}
    return next((c for c in first.column_names if name_key(c).endswith("id") and name_key(c) in keys), None)


def _references(select: exp.Select, tables: dict[str, Table]) -> list[tuple[str, Table | None]]:
    """The (alias or name, schema table or None) of a SELECT's FROM and each JOIN, in order."""
    sources = [select.args.get("from_"), *(select.args.get("joins") or [])]
    refs = []
    for source in sources:
        node = source.this if source is not None else None
        alias = node.alias_or_name if isinstance(node, exp.Expression) else ""
        refs.append((alias, tables.get(node.name.lower()) if isinstance(node, exp.Table) else None))
    return refs


def _repair(condition: exp.EQ, joined: str, earlier: list[str], refs: dict[str, Table | None]) -> bool:
    """Point one side of ``alias.c = alias.c`` (in the JOIN of ``joined``) at the other table's column."""
    alias = condition.this.table
    owner = refs.get(alias.lower())
    if owner is None:
        return False
    if alias.lower() == joined.lower():
        targets = earlier[::-1]
    else:
        targets = [joined] if alias.lower() in {e.lower() for e in earlier} else []
    for target in targets:
        table = refs.get(target.lower())
        if table is None:
            continue
        match = _matching_column(condition.this.name, owner, table)
        if match is not None:
            condition.set("expression", exp.column(match, table=target))
            return True
        shared = _shared_key(owner, table)
        if shared is not None:
            condition.set("this", exp.column(shared, table=alias))
            condition.set("expression", exp.column(shared, table=target))
            return True
    return False


def _self_comparisons(on: exp.Expression) -> list[exp.EQ]:
    return [
        eq
        for eq in on.find_all(exp.EQ)
        if isinstance(eq.this, exp.Column)
        and isinstance(eq.expression, exp.Column)
        and eq.this.table
        and eq.this.table.lower() == eq.expression.table.lower()
        and eq.this.name.lower() == eq.expression.name.lower()
    ]


def fix_self_comparisons(sql: str, schema: Sequence[Table]) -> str | None:
    """``sql`` with each ``JOIN ... ON T1.x = T1.x`` pointed at the joined table, or None if nothing changed."""
    if "join" not in sql.lower():  # most answers: no parse needed
        return None
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (ParseError, TokenError, RecursionError):
        return None
    tables = {table.name.lower(): table for table in schema}
    changed = False
    for select in tree.find_all(exp.Select):
        order = _references(select, tables)
        refs = {alias.lower(): table for alias, table in order}
        for position, join in enumerate(select.args.get("joins") or [], start=1):
            on = join.args.get("on")
            if on is None:
                continue
            earlier = [alias for alias, _ in order[:position]]
            for condition in _self_comparisons(on):
                changed |= _repair(condition, order[position][0], earlier, refs)
    return tree.sql(dialect="sqlite") if changed else None


_NO_SUCH_COLUMN = re.compile(r"no such column: (\S+)")


def _join_key(read: Table, other: Table) -> tuple[str, str] | None:
    """The (``read`` column, ``other`` column) pair two tables join on, by name: a key one names after the
    other (``customer_id`` and ``customers.id``, or the same ``*_id`` name in both), else a first column
    (a table's key, usually) that the other table has too."""
    for first, second, flip in ((read, other, False), (other, read, True)):
        for column in first.column_names:
            if name_key(column).endswith("id"):
                match = _matching_column(column, first, second)
                if match is not None:
                    return (match, column) if flip else (column, match)
    for first, second, flip in ((read, other, False), (other, read, True)):
        head = first.column_names[0] if first.column_names else None
        match = _column(second, name_key(head)) if head else None
        if match is not None:
            return (match, head) if flip else (head, match)
    return None


def _scope_columns(select: exp.Select, name: str, qualifier: str) -> list[exp.Column]:
    """The columns called ``name`` (with ``qualifier``, if given) that ``select`` itself reads."""
    return [
        column
        for column in select.find_all(exp.Column)
        if column.name.lower() == name.lower()
        and (not qualifier or column.table.lower() == qualifier.lower())
        and column.find_ancestor(exp.Select) is select
    ]


def join_missing_column(sql: str, error: str, schema: Sequence[Table]) -> str | None:
    """For SQLite's ``no such column: [alias.]name`` where ``name`` belongs to a schema table the query's SELECT
    does not read: that table joined on a key it shares with a table the SELECT reads, and ``name`` read from
    it. None when the error is another, the column is in no other table, or no join key is found."""
    match = _NO_SUCH_COLUMN.search(error)
    if match is None:
        return None
    qualifier, _, name = match.group(1).rpartition(".")
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (ParseError, TokenError, RecursionError):
        return None
    tables = {table.name.lower(): table for table in schema}
    for select in tree.find_all(exp.Select):
        columns = _scope_columns(select, name, qualifier)
        refs = [(alias, table) for alias, table in _references(select, tables) if table is not None]
        if not columns or not refs or any(_column(table, name_key(name)) for _, table in refs):
            continue  # not this SELECT's column, or one of its tables has it (a qualifier to fix, not a join)
        read = {table.name.lower() for _, table in refs}
        owners = [t for t in schema if t.name.lower() not in read and _column(t, name_key(name)) is not None]
        for owner in owners:
            for alias, table in refs:
                key = _join_key(table, owner)
                if key is None:
                    continue
                aliased = any(node.alias for node in tree.find_all(exp.Table))
                used = {node.alias_or_name.lower() for node in tree.find_all(exp.Table)}
                new = next(f"T{n}" for n in range(1, 100) if f"t{n}" not in used) if aliased else owner.name
                source = exp.to_table(owner.name)
                if aliased:
                    source = exp.alias_(source, new, table=True)
                select.join(source, on=exp.column(key[0], table=alias).eq(exp.column(key[1], table=new)), copy=False)
                for column in columns:
                    column.set("this", exp.to_identifier(_column(owner, name_key(name))))
                    column.set("table", exp.to_identifier(new))
                return tree.sql(dialect="sqlite")
    return None
