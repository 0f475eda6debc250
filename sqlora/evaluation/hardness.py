"""Spider hardness (easy / medium / hard / extra), following the rules of Spider's evaluation.py.

Spider counts, on the outermost query only:

* component1: WHERE, GROUP BY, ORDER BY, LIMIT, each extra table in FROM (joins), each OR and
  each LIKE in the join, WHERE and HAVING conditions;
* component2: nested queries used as condition values (WHERE / HAVING / ON) plus one set operation
  (UNION / INTERSECT / EXCEPT) if the query has one;
* others: more than one aggregate (SELECT, GROUP BY, ORDER BY), more than one selected column, more
  than one WHERE condition, more than one GROUP BY column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlglot import exp

from sqlora.sql.parsing import parse_or_none

LEVELS = ("easy", "medium", "hard", "extra")
SET_OPS = (exp.Union, exp.Intersect, exp.Except)


@dataclass(frozen=True)
class Components:
    component1: int
    component2: int
    others: int


def _conditions(node: exp.Expression | None) -> list[exp.Expression]:
    """A boolean expression split at AND/OR into its condition units (parentheses flattened)."""
    if node is None:
        return []
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And | exp.Or):
        return _conditions(node.this) + _conditions(node.expression)
    return [node]


def _connectors(node: exp.Expression | None, kind: type) -> int:
    if node is None:
        return 0
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And | exp.Or):
        return int(isinstance(node, kind)) + _connectors(node.this, kind) + _connectors(node.expression, kind)
    return 0


def _is_like(unit: exp.Expression) -> bool:
    inner = unit.this if isinstance(unit, exp.Not) else unit
    return isinstance(inner, exp.Like | exp.ILike)


def _query_parent(node: exp.Expression) -> exp.Expression | None:
    parent = node.parent
    while isinstance(parent, exp.Subquery | exp.Paren):
        parent = parent.parent
    return parent


def _nested_in(unit: exp.Expression, outer: exp.Select) -> int:
    """Queries used as values in one condition unit of ``outer`` (a set operation counts once)."""
    count = 0
    for node in unit.find_all(exp.Select, *SET_OPS):
        if isinstance(_query_parent(node), SET_OPS):
            continue
        if node.find_ancestor(exp.Select) is outer:
            count += 1
    return count


def _aggregates(nodes: list[exp.Expression], outer: exp.Select) -> int:
    """How many of ``nodes`` contain an aggregate function of ``outer`` (not of a subquery)."""
    return sum(any(a.find_ancestor(exp.Select) is outer for a in node.find_all(exp.AggFunc)) for node in nodes)


def components(tree: exp.Expression) -> Components:
    """Spider's three counts for a parsed query."""
    comp2 = 0
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    if isinstance(tree, SET_OPS):
        comp2 += 1
        while isinstance(tree, (*SET_OPS, exp.Subquery)):
            tree = tree.this  # Spider keeps the left-most query and counts one set operation
    if not isinstance(tree, exp.Select):
        return Components(0, comp2, 0)
    where = tree.args.get("where")
    having = tree.args.get("having")
    group = tree.args.get("group")
    order = tree.args.get("order")
    joins = tree.args.get("joins") or []
    from_ = tree.args.get("from_") or tree.args.get("from")
    on_conditions = [j.args.get("on") for j in joins if j.args.get("on") is not None]
    where_units = _conditions(where.this if where else None)
    having_units = _conditions(having.this if having else None)
    units = [u for c in on_conditions for u in _conditions(c)] + where_units + having_units

    extra_tables = len(joins)
    if from_ is not None and isinstance(from_.this, exp.Values):
        extra_tables = 0
    comp1 = sum(x is not None for x in (where, group, order, tree.args.get("limit"))) + extra_tables
    comp1 += sum(
        _connectors(c, exp.Or) for c in [*on_conditions, where.this if where else None, having.this if having else None]
    )
    comp1 += sum(_is_like(u) for u in units)
    comp2 += sum(_nested_in(u, tree) for u in units)

    group_cols = list(group.expressions) if group else []
    order_cols = [o.this for o in order.expressions] if order else []
    aggs = sum(_aggregates(nodes, tree) for nodes in (list(tree.expressions), group_cols, order_cols))
    others = int(aggs > 1) + int(len(tree.expressions) > 1) + int(len(where_units) > 1) + int(len(group_cols) > 1)
    return Components(comp1, comp2, others)


def level(c: Components) -> str:
    """Spider's decision rules."""
    c1, c2, others = c.component1, c.component2, c.others
    if c1 <= 1 and others == 0 and c2 == 0:
        return "easy"
    if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
        return "medium"
    if (
        (others > 2 and c1 <= 2 and c2 == 0)
        or (2 < c1 <= 3 and others <= 2 and c2 == 0)
        or (c1 <= 1 and others == 0 and c2 <= 1)
    ):
        return "hard"
    return "extra"


@lru_cache(maxsize=8192)
def spider_hardness(sql: str) -> str | None:
    """The Spider hardness of ``sql``, or None when it does not parse."""
    tree = parse_or_none(sql)
    return None if tree is None else level(components(tree))
