"""Error analysis: classify every wrong answer of an eval report by comparing its parsed SQL with the gold query.

Each wrong answer gets one *class* (the first differing aspect, in :data:`CLASSES` order) and the list of
every aspect in which it differs from the gold query. Invalid answers are further split by the parser's or
the engine's error (:func:`error_class`). Comparisons work on sqlglot trees, not on strings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.sql.dialects import sqlite_double_quoted_strings

INVALID, TABLE, JOIN, COLUMN = "invalid_sql", "wrong_table", "wrong_join", "wrong_column"
AGGREGATE, FILTER, CLAUSES, DISTINCT = "wrong_aggregate", "wrong_filter", "wrong_group_order_limit", "wrong_distinct"
NESTING, SHAPE = "wrong_nesting", "right_shape_wrong_result"
CORRECT, UNSCORED = "correct", "unscored"

CLASSES = (INVALID, TABLE, JOIN, COLUMN, AGGREGATE, FILTER, CLAUSES, DISTINCT, NESTING, SHAPE)
LABELS = {
    INVALID: "invalid SQL",
    TABLE: "wrong table",
    JOIN: "wrong or missing join",
    COLUMN: "wrong column",
    AGGREGATE: "wrong aggregate",
    FILTER: "wrong filter value/literal",
    CLAUSES: "wrong GROUP/ORDER/LIMIT",
    DISTINCT: "extra/missing DISTINCT",
    NESTING: "wrong nesting/set operation",
    SHAPE: "right shape, wrong result",
    CORRECT: "correct",
    UNSCORED: "unscored (gold failed)",
}
DIALECT = "sqlite"
_ERRORS = (  # (substring of the engine's message, error class), first match wins
    ("no such table", "no such table"),
    ("no such column", "no such column"),
    ("ambiguous column", "ambiguous column"),
    ("misuse of aggregate", "misuse of aggregate"),
    ("incomplete input", "syntax error (engine)"),
    ("syntax error", "syntax error (engine)"),
    ("timed out", "timeout"),
)


def _parse(sql: str) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(sql, read=DIALECT)
    except (ParseError, TokenError, RecursionError):
        return None


def error_class(pred: str, error: str | None) -> str:
    """Why an answer is invalid: empty, parser error, not a single query, or the engine's error kind."""
    if not pred or not pred.strip() or error == "empty query":
        return "empty answer"
    tree = _parse(pred)
    if tree is None:
        return "parse error (sqlglot)"
    if isinstance(tree, exp.Block):
        return "several statements"
    if not isinstance(tree, exp.Query):
        return f"not a query ({tree.key.upper()})"
    message = (error or "").lower()
    for needle, name in _ERRORS:
        if needle in message:
            return name
    return "other engine error" if message else "unknown error"


@dataclass
class Shape:
    """The aspects of one query that the classes compare (names lower-cased, aliases resolved)."""

    tables: set = field(default_factory=set)
    widths: Counter = field(default_factory=Counter)  # tables joined per SELECT, for SELECTs that join
    joins: Counter = field(default_factory=Counter)
    columns: set = field(default_factory=set)  # "clause:name", e.g. "select:age", "where:country"
    aggregates: Counter = field(default_factory=Counter)
    filters: Counter = field(default_factory=Counter)
    literals: Counter = field(default_factory=Counter)
    clauses: list = field(default_factory=list)
    distinct: int = 0
    nesting: tuple = ()


def _aliases(tree: exp.Expression) -> dict[str, str]:
    """Table alias (and name) -> table name, over the whole query (Spider reuses T1, T2 consistently)."""
    found: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        found[table.name.lower()] = table.name.lower()
        if table.alias:
            found[table.alias.lower()] = table.name.lower()
    return found


def _select_aliases(tree: exp.Expression) -> dict[str, exp.Expression]:
    return {a.alias.lower(): a.this for a in tree.find_all(exp.Alias) if isinstance(a.parent, exp.Select)}


_MIRRORED = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}


def _normal(node: exp.Expression, aliases: Mapping[str, str], qualify: bool = False) -> str:
    """Canonical SQL of a sub-expression: lower-case names, numbers as floats, subqueries as ``(subquery)``."""

    root = node.copy()

    def canonical(sub: exp.Expression) -> exp.Expression:
        if sub is not root and isinstance(sub, (exp.Subquery, exp.Select)):
            return exp.Literal.string("(subquery)")
        if isinstance(sub, exp.Column) and not sub.is_star:
            table = aliases.get(sub.table.lower(), sub.table.lower()) if sub.table else ""
            return exp.column(sub.name.lower(), table=table if qualify and table else None)
        if isinstance(sub, exp.Literal) and not sub.is_string:
            return exp.Literal.number(_literal_value(sub))
        return sub

    def flipped(sub: exp.Expression) -> exp.Expression:
        mirrored = _MIRRORED.get(type(sub))
        if mirrored and isinstance(sub.left, exp.Literal) and not isinstance(sub.right, exp.Literal):
            return mirrored(this=sub.right, expression=sub.left)  # 30 < age reads as age > 30
        return sub

    root = root.transform(flipped)
    return root.transform(canonical).sql(dialect=DIALECT)


def _conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    if node is None:
        return []
    if isinstance(node, (exp.Where, exp.Having)):
        node = node.this
    if isinstance(node, exp.Paren):
        return _conjuncts(node.this)
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _is_column_pair(node: exp.Expression) -> bool:
    return isinstance(node, exp.EQ) and isinstance(node.left, exp.Column) and isinstance(node.right, exp.Column)


def _join_edge(node: exp.EQ, aliases: Mapping[str, str], kind: str) -> str:
    sides = sorted(_normal(side, aliases, qualify=True) for side in (node.left, node.right))
    return f"{kind}:{sides[0]}={sides[1]}"


def _literal_value(node: exp.Literal) -> str:
    if node.is_string:
        return f"'{node.this}'"
    try:
        value = float(node.this)
    except ValueError:
        return node.this
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _add_select(select: exp.Select, shape: Shape, aliases: Mapping[str, str]) -> None:
    """One SELECT's joins, filters, GROUP/ORDER/LIMIT and DISTINCT into ``shape``."""
    for join in select.args.get("joins") or []:
        kind = " ".join(part for part in (join.side, join.kind) if part).lower() or "inner"
        for cond in _conjuncts(join.args.get("on")):
            if _is_column_pair(cond):
                shape.joins[_join_edge(cond, aliases, kind)] += 1
            else:
                shape.filters[_normal(cond, aliases)] += 1
        for name in join.args.get("using") or []:
            shape.joins[f"{kind}:using {name.name.lower()}"] += 1
    for clause in ("where", "having"):
        for cond in _conjuncts(select.args.get(clause)):
            if clause == "where" and _is_column_pair(cond):  # FROM a, b WHERE a.x = b.y joins the old way
                shape.joins[_join_edge(cond, aliases, "inner")] += 1
            else:
                shape.filters[f"{clause}:{_normal(cond, aliases)}"] += 1
    own = _select_aliases(select)

    def resolved(node: exp.Expression) -> str:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in own:
            node = own[node.name.lower()]
        return _normal(node, aliases)

    group = select.args.get("group")
    if group:
        shape.clauses.append("group by " + ", ".join(sorted(resolved(e) for e in group.expressions)))
    order = select.args.get("order")
    if order:
        keys = [resolved(o.this) + (" desc" if o.args.get("desc") else "") for o in order.expressions]
        shape.clauses.append("order by " + ", ".join(keys))
    limit = select.args.get("limit")
    if limit:
        shape.clauses.append("limit " + _normal(limit.expression, aliases))
    shape.distinct += bool(select.args.get("distinct"))


_CLAUSE_NAMES = {"expressions": "select", "from_": "from", "joins": "join"}


def _clause(node: exp.Expression) -> str:
    """The clause of its nearest SELECT that ``node`` sits in: select, where, join, group, having, order..."""
    while node.parent is not None and not isinstance(node.parent, exp.Select):
        node = node.parent
    return _CLAUSE_NAMES.get(node.arg_key, node.arg_key or "select")


def query_shape(tree: exp.Expression, schema_columns: set[str] | None = None) -> Shape:
    """The comparable aspects of a parsed query; ``schema_columns`` tells double-quoted strings from names."""
    tree = sqlite_double_quoted_strings(tree.copy(), schema_columns)
    aliases = _aliases(tree)
    derived = {alias.lower() for alias in _select_aliases(tree)}
    shape = Shape()
    ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
    shape.tables = {t.name.lower() for t in tree.find_all(exp.Table) if t.name.lower() not in ctes}
    for column in tree.find_all(exp.Column):
        name = column.name.lower()
        if column.table or name not in derived:
            shape.columns.add(f"{_clause(column)}:{name}")
    for select in tree.find_all(exp.Select):
        if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and e.is_star) for e in select.expressions):
            shape.columns.add("select:*")
        _add_select(select, shape, aliases)
        width = len(select.args.get("joins") or []) + bool(select.args.get("from_") or select.args.get("from"))
        if width > 1:
            shape.widths[width] += 1
    for agg in tree.find_all(exp.AggFunc):
        if _clause(agg) != "order":  # ORDER BY COUNT(*) is an ordering choice, compared with the clauses
            shape.aggregates[agg.key] += 1
        shape.distinct += isinstance(agg.this, exp.Distinct)
    shape.literals = Counter(
        _literal_value(lit) for lit in tree.find_all(exp.Literal) if lit.find_ancestor(exp.Limit) is None
    )
    nested = sum(1 for s in tree.find_all(exp.Select) if s.find_ancestor(exp.Select) is not None)
    shape.nesting = (nested, tuple(sorted(s.key for s in tree.find_all(exp.SetOperation))))
    return shape


def _table_class(pred: set, gold: set) -> str | None:
    """Tables differ: an extra/missing table is a join error, a different one a table error."""
    if pred == gold:
        return None
    return JOIN if pred <= gold or gold <= pred else TABLE


def _columns_differ(pred: Shape, gold: Shape) -> bool:
    """Names differ outside WHERE/HAVING, or inside them with as many conditions on each side.

    A condition missing or added altogether is a filter error, not a wrong column.
    """

    def split(shape: Shape) -> tuple[set, set]:
        inside = {c for c in shape.columns if c.split(":", 1)[0] in ("where", "having")}
        return shape.columns - inside, inside

    (pred_out, pred_in), (gold_out, gold_in) = split(pred), split(gold)
    return pred_out != gold_out or (pred_in != gold_in and sum(pred.filters.values()) == sum(gold.filters.values()))


def differing_aspects(pred: Shape, gold: Shape) -> list[str]:
    """Every class whose aspect differs between prediction and gold, in :data:`CLASSES` order."""
    found = []
    table = _table_class(pred.tables, gold.tables)
    if table:
        found.append(table)
    if table != JOIN and (pred.joins != gold.joins or pred.widths != gold.widths):
        found.append(JOIN)
    checks = [
        (COLUMN, _columns_differ(pred, gold)),
        (AGGREGATE, pred.aggregates != gold.aggregates),
        (FILTER, pred.filters != gold.filters or pred.literals != gold.literals),
        (CLAUSES, pred.clauses != gold.clauses),
        (DISTINCT, pred.distinct != gold.distinct),
        (NESTING, pred.nesting != gold.nesting),
    ]
    found += [name for name, differs in checks if differs]
    return sorted(set(found), key=CLASSES.index)


def _counter_diff(pred: Counter, gold: Counter) -> dict:
    return {"extra": sorted((pred - gold).elements()), "missing": sorted((gold - pred).elements())}


def _detail(pred: Shape, gold: Shape, aspects: Sequence[str]) -> dict:
    """What differs, for the examples in the report (extra and missing names, literals, clauses)."""
    detail: dict = {}
    if TABLE in aspects or JOIN in aspects:
        detail["tables"] = _counter_diff(Counter(pred.tables), Counter(gold.tables))
    if JOIN in aspects:
        detail["joins"] = _counter_diff(pred.joins, gold.joins)
    if COLUMN in aspects:
        detail["columns"] = _counter_diff(Counter(pred.columns), Counter(gold.columns))
    if AGGREGATE in aspects:
        detail["aggregates"] = _counter_diff(pred.aggregates, gold.aggregates)
    if FILTER in aspects:
        detail["filters"] = _counter_diff(pred.filters, gold.filters)
        detail["literals"] = _counter_diff(pred.literals, gold.literals)
    if CLAUSES in aspects:
        detail["clauses"] = {"pred": pred.clauses, "gold": gold.clauses}
    if DISTINCT in aspects:
        detail["distinct"] = {"pred": pred.distinct, "gold": gold.distinct}
    if NESTING in aspects:
        detail["nesting"] = {"pred": list(pred.nesting), "gold": list(gold.nesting)}
    return detail


@dataclass
class Classification:
    """The class of one answer, every aspect it gets wrong, the invalid-SQL error class and what differs."""

    cls: str
    aspects: list[str] = field(default_factory=list)
    error_class: str | None = None
    detail: dict = field(default_factory=dict)


def classify(
    gold: str,
    pred: str,
    ex: bool | None = False,
    error: str | None = None,
    executed: bool = True,
    schema_columns: set[str] | None = None,
) -> Classification:
    """Classify one scored answer; ``executed`` is False when the prediction failed on the database."""
    if ex is None:
        return Classification(UNSCORED)
    if ex:
        return Classification(CORRECT)
    pred_tree = _parse(pred) if pred and pred.strip() else None
    if not executed or pred_tree is None or not isinstance(pred_tree, exp.Query):
        return Classification(INVALID, [INVALID], error_class(pred, error))
    gold_tree = _parse(gold)
    if gold_tree is None or not isinstance(gold_tree, exp.Query):
        return Classification(SHAPE, [SHAPE], detail={"note": "gold does not parse"})
    pred_shape, gold_shape = query_shape(pred_tree, schema_columns), query_shape(gold_tree, schema_columns)
    aspects = differing_aspects(pred_shape, gold_shape) or [SHAPE]
    return Classification(aspects[0], aspects, detail=_detail(pred_shape, gold_shape, aspects))


def rederive_error(pred: str, db_path: str | None) -> str | None:
    """The engine's error for ``pred``, re-executed read-only on its database (reports may lack it)."""
    if not db_path:
        return None
    from sqlora.db.sqlite import connect_readonly
    from sqlora.evaluation.execution import run_query

    conn = connect_readonly(db_path)
    try:
        return run_query(conn, pred, max_rows=1).error
    finally:
        conn.close()


def _database(db_dir: str | Path | None, db_id: str | None) -> str | None:
    if not db_dir or not db_id:
        return None
    path = Path(db_dir) / db_id / f"{db_id}.sqlite"
    return str(path) if path.exists() else None


def _schema_columns(db_path: str | None) -> set[str] | None:
    if not db_path:
        return None
    from sqlora.db.sqlite import sqlite_tables

    return {name.lower() for table in sqlite_tables(db_path) for name in table.column_names}


def classify_example(example: Mapping, db_dir: str | Path | None = None) -> Classification:
    """Classify one row of a report's ``examples`` (its database, if found, supplies column names and errors)."""
    db_path = _database(db_dir, example.get("db_id"))
    executed = example.get("outcome") not in ("pred_error", "pred_timeout") and bool(example.get("valid", True))
    error = example.get("error")
    if not executed and not error:
        error = rederive_error(example.get("pred") or "", db_path)
    return classify(
        example.get("gold") or "",
        example.get("pred") or "",
        example.get("ex"),
        error,
        executed,
        _schema_columns(db_path),
    )


def question_key(example: Mapping) -> tuple:
    return (example.get("db_id"), example.get("question"), example.get("gold"))


def analyze(examples: Sequence[Mapping], db_dir: str | Path | None = None, n_examples: int = 3) -> dict:
    """Counts per class, per aspect and per invalid-SQL error class, a few examples each and one row per answer.

    A row's ``id`` is its position in the report's ``examples`` list (the runner's fixed, seeded order).
    """
    rows = []
    for index, example in enumerate(examples):
        found = classify_example(example, db_dir)
        rows.append({"id": index, "db_id": example.get("db_id"), **asdict(found)})
    wrong = [r for r in rows if r["cls"] in CLASSES]
    counts = Counter(r["cls"] for r in rows)
    samples: dict[str, list] = {}
    for row in wrong:
        if len(samples.setdefault(row["cls"], [])) < n_examples:
            ex = examples[row["id"]]
            samples[row["cls"]].append(
                {"id": row["id"], "question": ex.get("question"), "gold": ex.get("gold"), "pred": ex.get("pred")}
                | {k: row[k] for k in ("aspects", "error_class", "detail") if row[k]}
            )
    return {
        "n": len(rows),
        "n_correct": counts[CORRECT],
        "n_unscored": counts[UNSCORED],
        "n_wrong": len(wrong),
        "counts": {name: counts[name] for name in CLASSES},
        "aspect_counts": {name: sum(name in r["aspects"] for r in wrong) for name in CLASSES},
        "error_classes": dict(Counter(r["error_class"] for r in wrong if r["error_class"]).most_common()),
        "examples": samples,
        "rows": rows,
    }


def _aligned(base: Sequence[Mapping], tuned: Sequence[Mapping]) -> Iterable[tuple[int, int]]:
    """Pairs (base id, tuned id) of the same question (db_id, question, gold; repeats matched in order)."""
    positions: dict[tuple, list[int]] = {}
    for index, example in enumerate(base):
        positions.setdefault(question_key(example), []).append(index)
    for index, example in enumerate(tuned):
        waiting = positions.get(question_key(example))
        if waiting:
            yield waiting.pop(0), index


def compare(base_examples: Sequence[Mapping], base: Mapping, tuned_examples: Sequence[Mapping], tuned: Mapping) -> dict:
    """Which classes tuning fixed (base wrong -> tuned correct) and broke (base correct -> tuned wrong), by id.

    Ids are the tuned report's row ids; ``moved`` lists answers wrong in both runs whose class changed.
    """
    base_rows, tuned_rows = base["rows"], tuned["rows"]
    fixed: dict[str, list[int]] = {name: [] for name in CLASSES}
    broken: dict[str, list[int]] = {name: [] for name in CLASSES}
    moved: dict[str, list[int]] = {}
    pairs = list(_aligned(base_examples, tuned_examples))
    for b, t in pairs:
        was, now = base_rows[b]["cls"], tuned_rows[t]["cls"]
        if was in CLASSES and now == CORRECT:
            fixed[was].append(t)
        elif was == CORRECT and now in CLASSES:
            broken[now].append(t)
        elif was in CLASSES and now in CLASSES and was != now:
            moved.setdefault(f"{was} -> {now}", []).append(t)
    return {
        "n_matched": len(pairs),
        "base_counts": dict(base["counts"]),
        "tuned_counts": dict(tuned["counts"]),
        "fixed": fixed,
        "broken": broken,
        "moved": dict(sorted(moved.items(), key=lambda item: -len(item[1]))),
        "n_fixed": sum(len(ids) for ids in fixed.values()),
        "n_broken": sum(len(ids) for ids in broken.values()),
    }
