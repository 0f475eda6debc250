"""Question/SQL pairs made from a user's own database, to bootstrap fine-tuning data on a private schema.

Templates per table (counts, listings, filters on real sampled values, min/max/average of numeric columns,
top-1 by a numeric column, group-by counts) and per declared foreign key (join listing, count per parent).
Every SQL is built with sqlglot in the database's dialect, run through ``Database.execute_readonly`` and
kept only if it returns rows (and a non-NULL value for aggregates). Deterministic for a given database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlglot import exp

from sqlora.data.record import Example
from sqlora.db import names

if TYPE_CHECKING:
    from sqlora.db.connect import Database, ForeignKey
    from sqlora.sql.schema import Table

_NUMERIC = re.compile(r"INT|REAL|FLOA|DOUB|NUM|DEC", re.I)
_KEY = re.compile(r"(^|_|[a-z])(id|ID|Id)$")
_LABEL = re.compile(r"name|title", re.I)


def words(identifier: str) -> str:
    """'Mountain_ID' -> 'mountain id'; 'firstName' -> 'first name'."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", identifier)
    return re.sub(r"[^A-Za-z0-9]+", " ", text).strip().lower()


def plural(noun: str) -> str:
    if noun.endswith("s"):
        return noun
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


class _Builder:
    """Builds SQL for one database's dialect."""

    def __init__(self, db: Database):
        self.db = db
        self.d = db.dialect
        self.schema = db.schema if db.backend != "postgresql" else None

    def table(self, name: str, alias: str | None = None) -> exp.Table:
        return names.table(name, self.d, self.schema, alias)

    def col(self, name: str, table: str | None = None) -> exp.Column:
        return names.column(name, self.d, table)

    def sql(self, query: exp.Expression) -> str:
        return query.sql(dialect=self.d)


def _is_numeric(kind: str) -> bool:
    return bool(_NUMERIC.search(kind or ""))


def _profile(db: Database, b: _Builder, table: Table) -> dict[str, tuple[int, int]]:
    """{column: (distinct non-null values, rows)} for the first 12 columns."""
    out = {}
    for col, _ in table.columns[:12]:
        c = b.col(col)
        query = exp.select(exp.Count(this=exp.Distinct(expressions=[c])), exp.Count(this=exp.Star())).from_(
            b.table(table.name)
        )
        try:
            out[col] = tuple(db.execute_readonly(b.sql(query), timeout_s=5.0).rows[0])
        except Exception:
            continue
    return out


def _label(table: Table, profile: dict) -> str | None:
    text = [c for c, k in table.columns if not _is_numeric(k) and not _KEY.search(c) and c in profile]
    named = [c for c in text if _LABEL.search(c)]
    return (named or text or [None])[0]


def _top_value(db: Database, b: _Builder, table: str, col: str) -> object | None:
    c = b.col(col)
    query = (
        exp.select(c.copy())
        .from_(b.table(table))
        .where(exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null())))
        .group_by(c.copy())
        .order_by(exp.Ordered(this=exp.Count(this=exp.Star()), desc=True), c.copy())
        .limit(1)
    )
    rows = db.execute_readonly(b.sql(query), timeout_s=5.0).rows
    return rows[0][0] if rows else None


def _median(db: Database, b: _Builder, table: str, col: str, count: int) -> object | None:
    c = b.col(col)
    query = (
        exp.select(c.copy())
        .from_(b.table(table))
        .where(exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null())))
        .order_by(c.copy())
        .limit(1)
        .offset(max(count // 2 - 1, 0))
    )
    rows = db.execute_readonly(b.sql(query), timeout_s=5.0).rows
    return rows[0][0] if rows else None


def _table_pairs(db: Database, b: _Builder, table: Table) -> Iterator[tuple[str, exp.Expression, bool]]:
    """(question, query, is_aggregate) candidates for one table."""
    profile = _profile(db, b, table)
    if not profile or not next(iter(profile.values()))[1]:
        return  # empty table
    rows = next(iter(profile.values()))[1]
    thing, things = words(table.name), plural(words(table.name))
    t = lambda: b.table(table.name)  # noqa: E731
    yield f"How many {things} are there?", exp.select(exp.Count(this=exp.Star())).from_(t()), True
    label = _label(table, profile)
    if label:
        yield f"List the {plural(words(label))} of all {things}.", exp.select(b.col(label)).from_(t()), False
    categorical = [
        c for c, k in table.columns
        if c in profile and c != label and not _KEY.search(c) and 1 < profile[c][0] < max(rows, 2)
        and not _is_numeric(k)
    ]  # fmt: skip
    numeric = [c for c, k in table.columns if c in profile and _is_numeric(k) and not _KEY.search(c) and profile[c][0]]
    show = label or (numeric[0] if numeric else None)
    if categorical and show:
        cat = categorical[0]
        value = _top_value(db, b, table.name, cat)
        if value is not None:
            query = exp.select(b.col(show)).from_(t()).where(exp.EQ(this=b.col(cat), expression=exp.convert(value)))
            yield f"What are the {plural(words(show))} of the {things} whose {words(cat)} is {value}?", query, False
        grouped = [c for c in categorical if profile[c][0] <= max(2, rows // 2)]
        if grouped:
            query = exp.select(b.col(grouped[0]), exp.Count(this=exp.Star())).from_(t()).group_by(b.col(grouped[0]))
            yield f"How many {things} are there for each {words(grouped[0])}?", query, False
    if numeric:
        num = numeric[0]
        aggregate = lambda fn: exp.select(fn(this=b.col(num))).from_(t())  # noqa: E731
        yield f"What is the maximum {words(num)} of all {things}?", aggregate(exp.Max), True
        if label:
            order = exp.Ordered(this=b.col(num), desc=True)
            query = exp.select(b.col(label)).from_(t()).order_by(order).limit(1)
            yield f"What is the {words(label)} of the {thing} with the highest {words(num)}?", query, False
            middle = _median(db, b, table.name, num, profile[num][1])
            if middle is not None:
                cond = exp.GT(this=b.col(num), expression=exp.convert(middle))
                query = exp.select(b.col(label)).from_(t()).where(cond)
                question = f"List the {plural(words(label))} of {things} with {words(num)} greater than {middle}."
                yield question, query, False
        yield f"What is the average {words(num)} of all {things}?", aggregate(exp.Avg), True
        yield f"What is the minimum {words(num)} of all {things}?", aggregate(exp.Min), True


def _join_pairs(db: Database, b: _Builder, fk: ForeignKey) -> Iterator[tuple[str, exp.Expression, bool]]:
    child, parent = db.table(fk.table), db.table(fk.ref_table)
    child_profile = {c: (1, 1) for c, _ in child.columns}
    parent_profile = {c: (1, 1) for c, _ in parent.columns}
    child_label, parent_label = _label(child, child_profile), _label(parent, parent_profile)
    if not parent_label:
        return
    on = exp.and_(*[
        exp.EQ(this=b.col(c, "T1"), expression=b.col(r, "T2")) for c, r in zip(fk.columns, fk.ref_columns, strict=True)
    ])  # fmt: skip
    joined = lambda q: q.from_(b.table(child.name, "T1")).join(b.table(parent.name, "T2"), on=on.copy())  # noqa: E731
    c_thing, p_thing = words(child.name), words(parent.name)
    if child_label:
        query = joined(exp.select(b.col(child_label, "T1"), b.col(parent_label, "T2")))
        yield (
            f"Show the {words(child_label)} of each {c_thing} and the {words(parent_label)} of its {p_thing}.",
            query,
            False,
        )
    query = joined(exp.select(b.col(parent_label, "T2"), exp.Count(this=exp.Star())))
    query = query.group_by(b.col(parent_label, "T2"))
    yield f"How many {plural(c_thing)} does each {p_thing} have? Show the {words(parent_label)}.", query, False


def examples_from_database(db: Database, limit_per_table: int = 8, timeout_s: float = 10.0) -> list[Example]:
    """Verified question/SQL pairs for every non-empty table and declared foreign key of ``db``."""
    b = _Builder(db)
    context = db.schema_context()
    db_path = db.url.database if db.backend in ("sqlite", "duckdb") else None
    out: list[Example] = []
    seen: set[str] = set()
    per_table: dict[str, int] = {}
    candidates: list[tuple[str, str, exp.Expression, bool]] = []
    for table in db.tables():
        candidates += [(table.name, q, e, agg) for q, e, agg in _table_pairs(db, b, table)]
    for fk in db.foreign_keys():  # joins have their own quota per foreign key
        candidates += [(f"{fk.table}->{fk.ref_table}", q, e, agg) for q, e, agg in _join_pairs(db, b, fk)]
    for table, question, query, aggregate in candidates:
        if per_table.get(table, 0) >= limit_per_table:
            continue
        sql = b.sql(query)
        if sql in seen or question in seen:  # one SQL per question, so pairs are never ambiguous
            continue
        try:
            result = db.execute_readonly(sql, timeout_s=timeout_s, max_rows=1)
        except Exception:
            continue
        if not result.rows or (aggregate and result.rows[0][0] is None):
            continue
        seen.update((sql, question))
        per_table[table] = per_table.get(table, 0) + 1
        out.append(Example(question=question, context=context, sql=sql, db_id=db.name, db_path=db_path))
    return out
