"""What a database holds, read through the read-only gate: column kinds, real sample values, keys between tables.

Kinds come from the values themselves (SQLite declares little): ``number``, ``date`` (date objects or ISO
strings), ``text``, ``key`` (``id``/``*_id`` columns, primary keys, foreign keys) or ``other``. Links between
tables are the declared foreign keys, plus likely ones where none are declared: a column ``<table>_id`` /
``<table>id`` in one table pointing at the key (``id`` or the same name) of that table.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import inflect
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from sqlora.db import names
from sqlora.synth.phrasing import humanize

if TYPE_CHECKING:
    from sqlora.db.connect import Database

_KEY_NAME = re.compile(r"(^|_|[a-z])(id|ID|Id)$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?")
_LABEL_NAME = re.compile(r"name|title", re.I)
_CODE_NAME = re.compile(r"(^|_|\b)(ssn|zip|zipcode|postcode|postal|phone|fax|code|isbn|ean|upc)(_|$)", re.I)
_MAX_TEXT = 60
_INFLECT = inflect.engine()


@dataclass
class ColumnProfile:
    """One column: its kind, counts and most frequent real values."""

    name: str
    declared: str
    kind: str  # number, date, text, key, other
    distinct: int = 0
    non_null: int = 0
    top_values: list = field(default_factory=list)  # most frequent first
    median: object | None = None
    quartiles: list = field(default_factory=list)  # lower quartile, median, upper quartile (numbers and dates)


@dataclass
class TableProfile:
    """One table: row count, columns, primary key and the column that names a row (if any)."""

    name: str
    rows: int
    columns: list[ColumnProfile]
    primary_key: list[str] = field(default_factory=list)
    label: str | None = None

    def by_kind(self, kind: str) -> list[ColumnProfile]:
        return [c for c in self.columns if c.kind == kind]

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def categorical(self) -> list[ColumnProfile]:
        """Text columns with a few repeated values (good for filters and GROUP BY)."""
        limit = max(2, min(60, int(self.rows * 0.8)))
        return [c for c in self.by_kind("text") if c.name != self.label and 2 <= c.distinct <= limit]


@dataclass(frozen=True)
class Link:
    """``child.column`` refers to ``parent.ref`` (declared, or guessed from names when ``declared`` is False)."""

    child: str
    column: str
    parent: str
    ref: str
    declared: bool = True


class Builder:
    """SQL nodes for one database's dialect (tables schema-qualified where needed)."""

    def __init__(self, db: Database):
        self.dialect = db.dialect
        self.schema = db.schema if db.backend != "postgresql" else None  # postgres: search_path

    def table(self, name: str, alias: str | None = None) -> exp.Table:
        return names.table(name, self.dialect, self.schema, alias)

    def col(self, name: str, alias: str | None = None) -> exp.Column:
        """A column, qualified by an (unquoted, Spider-style ``T1``) table alias when given."""
        node = names.column(name, self.dialect)
        if alias:
            node.set("table", exp.to_identifier(alias))
        return node

    def sql(self, query: exp.Expression) -> str:
        return query.sql(dialect=self.dialect)

    def ordered(self, node: exp.Expression, desc: bool = False) -> exp.Ordered:
        """ORDER BY item in the dialect's own NULL order, so no NULLS FIRST/LAST clause is written."""
        ordering = Dialect.get_or_raise(self.dialect).NULL_ORDERING
        nulls_first = (ordering == "nulls_are_small" and not desc) or (ordering == "nulls_are_large" and desc)
        return exp.Ordered(this=node, desc=desc, nulls_first=nulls_first)


def plain_value(value: object) -> object:
    """A database value as a plain Python value (Decimal -> int/float, dates -> ISO text)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _kind(col: str, declared: str, values: list, is_key: bool, distinct: int = 0) -> str:
    if is_key:
        return "key"
    present = [v for v in values if v is not None]
    if not present or any(isinstance(v, bytes | bool) for v in present):
        return "other"
    if any(isinstance(v, dt.date) for v in present):
        return "date"
    plain = [plain_value(v) for v in present]
    if all(isinstance(v, int | float) for v in plain):
        if _CODE_NAME.search(col) or distinct <= 2 or humanize(col).endswith("ed"):
            return "other"  # codes, flags ('registered' 0/1) are not numbers to sum or rank by
        return "number"
    if all(isinstance(v, str) for v in plain):
        if all(_ISO_DATE.match(v) for v in plain):
            return "date"
        return "text" if all(len(v) <= _MAX_TEXT for v in plain) else "other"
    return "other"


def is_key_name(column: str) -> bool:
    return bool(_KEY_NAME.search(column))


def _run(db: Database, b: Builder, query: exp.Expression, max_rows: int = 50) -> list:
    try:
        return list(db.execute_readonly(b.sql(query), timeout_s=10.0, max_rows=max_rows).rows)
    except Exception:  # a column the database cannot group or count is simply not profiled
        return []


def _profile_column(
    db: Database, b: Builder, table: str, col: str, declared: str, key: bool | None, top: int
) -> ColumnProfile:
    """``key``: True (an id), False (not a key) or None (a key if its values are integers)."""
    c = b.col(col)
    not_null = exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null()))
    counts = _run(db, b, exp.select(exp.Count(this=exp.Distinct(expressions=[c.copy()])), exp.Count(this=c.copy()))
                  .from_(b.table(table)))  # fmt: skip
    distinct, non_null = (int(counts[0][0] or 0), int(counts[0][1] or 0)) if counts else (0, 0)
    values: list = []
    if non_null and key is not True:
        frequent = (
            exp.select(c.copy())
            .from_(b.table(table))
            .where(not_null.copy())
            .group_by(c.copy())
            .order_by(b.ordered(exp.Count(this=exp.Star()), desc=True), b.ordered(c.copy()))
            .limit(top)
        )
        values = [row[0] for row in _run(db, b, frequent, top)]
    if key is None:  # a key column holding names ('dept_name') is filtered on like any text
        key = not values or all(isinstance(plain_value(v), int) for v in values if v is not None)
    profile = ColumnProfile(col, declared, _kind(col, declared, values, key, distinct), distinct, non_null)
    profile.top_values = [plain_value(v) for v in values]
    if profile.kind in ("number", "date") and non_null:
        middle = exp.select(c.copy()).from_(b.table(table)).where(not_null).order_by(b.ordered(c.copy()))
        for offset in (non_null // 4, non_null // 2, 3 * non_null // 4):
            rows = _run(db, b, middle.copy().limit(1).offset(offset), 1)
            if rows and rows[0][0] is not None and plain_value(rows[0][0]) not in profile.quartiles:
                profile.quartiles.append(plain_value(rows[0][0]))
        profile.median = profile.quartiles[len(profile.quartiles) // 2] if profile.quartiles else None
    return profile


def _label(columns: list[ColumnProfile], rows: int) -> str | None:
    text = [c for c in columns if c.kind == "text"]
    named = [c for c in text if _LABEL_NAME.search(c.name)]
    exact = [c for c in named if c.name.lower() in ("name", "title")]
    unique = [c for c in text if c.distinct >= max(2, rows * 0.6)]
    for group in (exact, named, unique):
        if group:
            return group[0].name
    return None


def profile_table(db: Database, b: Builder, name: str, keys: set[str], top: int = 10) -> TableProfile:
    """Counts, kinds and frequent values of every column of ``name`` (``keys``: its key columns)."""
    table = db.table(name)
    count = _run(db, b, exp.select(exp.Count(this=exp.Star())).from_(b.table(name)))
    rows = int(count[0][0]) if count else 0
    try:
        pk = db.primary_key(name)
    except Exception:
        pk = []

    def key(col: str) -> bool | None:
        if is_key_name(col):
            return True
        return None if col in keys or (col in pk and len(pk) == 1) else False

    columns = [_profile_column(db, b, name, col, declared, key(col), top) for col, declared in table.columns]
    return TableProfile(name, rows, columns, pk, _label(columns, rows))


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _table_stems(table: str) -> set[str]:
    stem = _norm(table)
    singular = _INFLECT.singular_noun(table.lower())
    return {stem, _norm(singular)} if singular else {stem}


def guess_links(tables: list[TableProfile]) -> list[Link]:
    """Likely links by naming: ``orders.customer_id`` -> ``customers.id`` (or ``customers.customer_id``)."""
    out = []
    for parent in tables:
        key_cols = [c.name for c in parent.columns if c.kind == "key"]
        stems = _table_stems(parent.name)
        for child in tables:
            if child is parent:
                continue
            for col in child.columns:
                if col.kind != "key" or _norm(col.name) not in {s + "id" for s in stems}:
                    continue
                ref = next((k for k in key_cols if _norm(k) == _norm(col.name)), None)
                ref = ref or next((k for k in key_cols if _norm(k) == "id"), None)
                if ref:
                    out.append(Link(child.name, col.name, parent.name, ref, declared=False))
    return out


def profile_database(db: Database, top: int = 10) -> tuple[list[TableProfile], list[Link]]:
    """Profiles of every table and the links between them (declared foreign keys first)."""
    b = Builder(db)
    fks = db.foreign_keys()
    declared = [
        Link(fk.table, col, fk.ref_table, ref)
        for fk in fks
        if len(fk.columns) == 1
        for col, ref in zip(fk.columns, fk.ref_columns, strict=True)
    ]
    keys: dict[str, set[str]] = {}
    for fk in fks:
        keys.setdefault(fk.table, set()).update(fk.columns)
        keys.setdefault(fk.ref_table, set()).update(fk.ref_columns)
    tables = [profile_table(db, b, t.name, keys.get(t.name, set()), top) for t in db.tables()]
    by_name = {t.name.lower(): t for t in tables}
    declared = [
        Link(by_name[k.child.lower()].name, k.column, by_name[k.parent.lower()].name, k.ref)
        for k in declared
        if k.child.lower() in by_name and k.parent.lower() in by_name
    ]
    linked = {(k.child, k.column) for k in declared}
    guessed = [k for k in guess_links(tables) if (k.child, k.column) not in linked]
    return tables, declared + guessed
