"""Optimization hints from the database's real query plan, plus sqlglot's optimizer rewrite.

The query first goes through the read-only gate; then the engine's own plan is read (SQLite ``EXPLAIN QUERY
PLAN``, PostgreSQL ``EXPLAIN (FORMAT JSON)``, MariaDB/MySQL ``EXPLAIN``, DuckDB ``EXPLAIN``), inside the same
read-only transaction as any query. Hints:

* ``full_scan``: a table is read in full while the query filters it on columns no index starts with ->
  a concrete ``CREATE INDEX``;
* ``join_index``: a join key without an index (full scan or an automatic index built per query) -> ``CREATE INDEX``;
* ``select_star``, ``unbounded`` (no LIMIT on a non-aggregate query), ``non_sargable`` (a function wrapped around
  a column in WHERE), ``leading_wildcard`` (``LIKE '%...'``), ``or_across_columns``, ``order_by_random``.

Index hints are not given for DuckDB (columnar scans with zone maps; ART indexes rarely help analytics).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.optimizer import optimize
from sqlglot.optimizer.qualify import qualify

from sqlora.db.names import quote
from sqlora.db.readonly import check_readonly

if TYPE_CHECKING:
    from sqlora.db.connect import Database

_SCAN = re.compile(r"^SCAN (?:TABLE )?(\S+)(?: AS (\S+))?(.*)$")
_AUTO = re.compile(r"^SEARCH (?:TABLE )?(\S+)(?: AS (\S+))? USING AUTOMATIC")


@dataclass
class Hint:
    """One suggestion; ``suggestion`` is SQL to run (e.g. CREATE INDEX) when there is one."""

    kind: str
    message: str
    suggestion: str | None = None
    table: str | None = None
    columns: list[str] = field(default_factory=list)


@dataclass
class OptimizationReport:
    """The plan as text lines, the hints, and sqlglot's optimized rewrite (if it differs and compiles)."""

    sql: str
    dialect: str
    plan: list[str] = field(default_factory=list)
    hints: list[Hint] = field(default_factory=list)
    optimized_sql: str | None = None
    full_scans: list[str] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return [h.kind for h in self.hints]

    @property
    def index_statements(self) -> list[str]:
        return [h.suggestion for h in self.hints if h.suggestion and h.suggestion.startswith("CREATE INDEX")]

    def to_dict(self) -> dict:
        return asdict(self)


# -- plans ----------------------------------------------------------------------------------------
def query_plan(sql: str, db: Database) -> tuple[list[str], set[str], set[str]]:
    """(plan lines, full-scanned table names or aliases, tables searched with a per-query automatic index)."""
    check_readonly(sql, db.dialect)
    if db.backend == "sqlite":
        rows = db.execute_unchecked(f"EXPLAIN QUERY PLAN {sql}", max_rows=10_000).rows
        lines, scans, auto = [], set(), set()
        depth: dict[int, int] = {}
        for node_id, parent, _, detail in rows:
            depth[node_id] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node_id] + detail)
            if m := _SCAN.match(detail):
                if "USING" not in m.group(3):
                    scans.update(x for x in m.group(1, 2) if x)
            elif m := _AUTO.match(detail):
                auto.update(x for x in m.group(1, 2) if x)
        return lines, scans, auto
    if db.backend == "postgresql":
        raw = db.execute_unchecked(f"EXPLAIN (FORMAT JSON) {sql}", max_rows=10).rows[0][0]
        plan = json.loads(raw) if isinstance(raw, str) else raw
        lines, scans = [], set()
        _pg_walk(plan[0]["Plan"], 0, lines, scans)
        return lines, scans, set()
    if db.backend in ("mysql", "mariadb"):
        result = db.execute_unchecked(f"EXPLAIN {sql}", max_rows=10_000)
        cols = [c.lower() for c in result.columns]
        lines, scans = [], set()
        for row in result.rows:
            rec = dict(zip(cols, row, strict=False))
            lines.append(
                f"{rec.get('select_type')} {rec.get('table')}: type={rec.get('type')} key={rec.get('key')} "
                f"rows={rec.get('rows')} {rec.get('extra') or ''}".strip()
            )
            if str(rec.get("type")).upper() == "ALL" and rec.get("table"):
                scans.add(str(rec["table"]))
        return lines, scans, set()
    result = db.execute_unchecked(f"EXPLAIN {sql}", max_rows=10_000)
    lines = [line for row in result.rows for line in str(row[-1]).splitlines() if line.strip()]
    return lines, set(), set()


def _pg_walk(node: dict, depth: int, lines: list[str], scans: set[str]) -> None:
    kind = node.get("Node Type", "?")
    rel = node.get("Relation Name")
    alias = node.get("Alias")
    text = kind + (f" on {rel}" if rel else "") + (f" ({alias})" if rel and alias != rel else "")
    for key in ("Index Name", "Filter", "Index Cond", "Hash Cond", "Join Filter"):
        if node.get(key):
            text += f" [{key}: {node[key]}]"
    lines.append("  " * depth + text)
    if kind == "Seq Scan" and rel:
        scans.update({rel, node.get("Alias") or rel})
    for child in node.get("Plans", []):
        _pg_walk(child, depth + 1, lines, scans)


# -- the query's tables and columns ---------------------------------------------------------------
def _aliases(tree: exp.Expression) -> dict[str, str]:
    out = {}
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier):
            out[table.alias_or_name] = table.name
            out[table.name] = table.name
    return out


def _owner(col: exp.Column, aliases: dict[str, str], columns: dict[str, set[str]], select: exp.Select) -> str | None:
    """The real table a column belongs to."""
    if col.table:
        return aliases.get(col.table)
    local = {t.name for t in select.find_all(exp.Table) if t.parent_select is select}
    candidates = [t for t in local if col.name.lower() in columns.get(t, set())]
    return candidates[0] if len(candidates) == 1 else None


def _conjuncts(node: exp.Expression) -> list[exp.Expression]:
    """The AND-ed predicates of a condition (those under OR cannot use one index each)."""
    node = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node] if isinstance(node, exp.Predicate) else []


def _filter_columns(tree: exp.Expression, aliases, columns) -> tuple[dict, dict]:
    """{table: [(column, 'eq'|'range')]} from WHERE comparisons with constants, and {table: [join columns]}."""
    filters: dict[str, list[tuple[str, str]]] = {}
    joins: dict[str, list[str]] = {}
    for select in tree.find_all(exp.Select):
        where = select.args.get("where")
        conds = _conjuncts(where.this) if where else []
        for join in select.args.get("joins") or []:
            on = join.args.get("on")
            if on is not None:
                conds += _conjuncts(on)
        for cond in conds:
            left, right = cond.this, cond.args.get("expression")
            if isinstance(cond, exp.EQ) and isinstance(left, exp.Column) and isinstance(right, exp.Column):
                for side in (left, right):
                    owner = _owner(side, aliases, columns, select)
                    if owner:
                        joins.setdefault(owner, []).append(side.name)
                continue
            if not isinstance(left, exp.Column):
                continue
            prefix_like = isinstance(cond, exp.Like) and isinstance(right, exp.Literal) and right.this[:1] != "%"
            if isinstance(cond, exp.EQ | exp.In | exp.Is):
                op = "eq"
            elif isinstance(cond, exp.GT | exp.GTE | exp.LT | exp.LTE | exp.Between) or prefix_like:
                op = "range"
            else:
                continue
            if isinstance(cond, exp.In) and cond.args.get("query") is not None:
                continue
            owner = _owner(left, aliases, columns, select)
            if owner:
                filters.setdefault(owner, []).append((left.name, op))
    return filters, joins


def _index_sql(db: Database, table: str, cols: list[str]) -> str:
    name = re.sub(r"[^a-z0-9_]", "_", f"idx_{table}_{'_'.join(cols)}".lower())[:60]
    types = dict(db.table(table).columns)
    rendered = []
    for col in cols:
        text = quote(col, db.dialect)
        if db.dialect == "mysql" and re.search(r"TEXT|BLOB", str(types.get(col, "")), re.I):
            text += "(191)"  # MySQL indexes TEXT columns by prefix
        rendered.append(text)
    return f"CREATE INDEX {name} ON {quote(table, db.dialect)} ({', '.join(rendered)});"


def _leading_indexed(db: Database, table: str) -> set[str]:
    return {cols[0].lower() for cols in db.indexes(table) if cols}


# -- hints ----------------------------------------------------------------------------------------
def optimize_hints(sql: str, database: Database) -> OptimizationReport:
    """Plan-based and static hints for ``sql`` on ``database`` (raises UnsafeSQLError for non-read SQL)."""
    tree = check_readonly(sql, database.dialect)
    report = OptimizationReport(sql=sql, dialect=database.dialect)
    report.plan, scans, auto = query_plan(sql, database)
    aliases = _aliases(tree)
    known = {t.name: t for t in database.tables()}
    columns = {name: {c.lower() for c in t.column_names} for name, t in known.items()}
    scanned = {aliases.get(s, s) for s in scans} | {s for s in scans if s in known}
    report.full_scans = sorted(t for t in scanned if t in known)
    auto_tables = {aliases.get(s, s) for s in auto}
    filters, joins = _filter_columns(tree, aliases, columns)
    if database.dialect != "duckdb":
        for table in sorted(set(filters) | set(joins)):
            if table not in known:
                continue
            indexed = _leading_indexed(database, table)
            wanted = [c for c, op in filters.get(table, []) if op == "eq"] + [
                c for c, op in filters.get(table, []) if op == "range"
            ]
            wanted = list(dict.fromkeys(c for c in wanted if c.lower() not in indexed))[:3]
            if wanted and table in scanned:
                report.hints.append(Hint(
                    "full_scan",
                    f"Table {table} is read in full while the query filters it on {', '.join(wanted)}; "
                    "an index lets the database jump to the matching rows.",
                    _index_sql(database, table, wanted), table, wanted,
                ))  # fmt: skip
                continue
            keys = list(dict.fromkeys(c for c in joins.get(table, []) if c.lower() not in indexed))
            if keys and (table in scanned or table in auto_tables):
                how = "builds a temporary index on every run" if table in auto_tables else "is read in full"
                report.hints.append(Hint(
                    "join_index",
                    f"Join key {table}.{keys[0]} has no index, so {table} {how}.",
                    _index_sql(database, table, keys[:1]), table, keys[:1],
                ))  # fmt: skip
    report.hints.extend(_static_hints(tree))
    report.optimized_sql = _rewrite(tree, database, known)
    return report


def _static_hints(tree: exp.Expression) -> list[Hint]:
    hints = []
    top = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
           for s in tree.find_all(exp.Select) for e in s.expressions):  # fmt: skip
        hints.append(Hint("select_star", "SELECT * reads and returns every column; list only the columns you need."))
    if isinstance(top, exp.Select | exp.SetOperation) and not top.args.get("limit"):
        aggregated = isinstance(top, exp.Select) and (
            top.args.get("group") or any(e.find(exp.AggFunc) for e in top.expressions)
        )
        if not aggregated:
            hints.append(Hint("unbounded", "The query has no LIMIT and no aggregate, so it may return every row; "
                                           "add LIMIT if you only need the first rows."))  # fmt: skip
    for select in tree.find_all(exp.Select):
        where = select.args.get("where")
        if not where:
            continue
        for pred in where.find_all(exp.Predicate):
            left = pred.this
            if isinstance(left, exp.Func) and not isinstance(left, exp.AggFunc) and left.find(exp.Column):
                col = left.find(exp.Column).name
                hints.append(Hint("non_sargable", f"{left.sql()} wraps column {col} in a function, so an index on "
                                  f"{col} cannot be used; compare the bare column (or index the expression).",
                                  columns=[col]))  # fmt: skip
            right = pred.args.get("expression")
            if isinstance(pred, exp.Like | exp.ILike) and isinstance(right, exp.Literal) and right.this.startswith("%"):
                hints.append(Hint("leading_wildcard", f"LIKE '{right.this}' starts with a wildcard, so no index can "
                                  "help; consider full-text search or a prefix pattern."))  # fmt: skip
        for disjunction in where.find_all(exp.Or):
            cols = {c.sql() for c in (disjunction.left.find(exp.Column), disjunction.right.find(exp.Column)) if c}
            if len(cols) > 1:
                listed = ", ".join(sorted(cols))
                hints.append(Hint("or_across_columns", f"OR across different columns ({listed}) usually prevents "
                                  "index use; a UNION of two indexed queries can be faster."))  # fmt: skip
                break
    order = top.args.get("order") if isinstance(top, exp.Select) else None
    if order and any(isinstance(o.this, exp.Rand) for o in order.expressions):
        hints.append(Hint("order_by_random", "ORDER BY RANDOM() sorts the whole table; sample by key instead."))
    return hints


def _rewrite(tree: exp.Expression, db: Database, known: dict[str, Any]) -> str | None:
    """sqlglot's optimizer with the database schema; kept only if it differs and the database accepts it."""
    from sqlora.sql.schema import clean_type

    schema = {name: {col: clean_type(kind) for col, kind in t.columns} for name, t in known.items()}
    try:
        rewritten = optimize(tree.copy(), schema=schema, dialect=db.dialect).sql(dialect=db.dialect, pretty=True)
        baseline = qualify(tree.copy(), schema=schema, dialect=db.dialect).sql(dialect=db.dialect, pretty=True)
    except Exception:
        return None
    if rewritten == baseline:  # only names were qualified: nothing worth showing
        return None
    try:
        query_plan(rewritten, db)
    except Exception:
        return None
    return rewritten
