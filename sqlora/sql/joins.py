"""Join conditions that compare a column with itself (``JOIN b AS T2 ON T1.x = T1.x``), repaired.

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
"""

from __future__ import annotations

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
