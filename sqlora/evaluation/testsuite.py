"""Test-suite execution accuracy for rows that only have CREATE TABLE context (no database).

K small SQLite databases are generated from the schema, seeded with the gold query's literals
(placed in the columns they are compared with, with their neighbours so that ``>`` and ``>=``
differ) plus random values of each column's type, drawn from small pools so that filters, joins
and groupings select some rows but not all. A prediction is correct only when it returns the
gold result on every database.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import string
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.db.executors import QueryResult
from sqlora.evaluation.execution import (
    CORRECT,
    DEFAULT_TIMEOUT_S,
    GOLD_ERROR,
    PRED_ERROR,
    PRED_TIMEOUT,
    WRONG,
    ExecutionOutcome,
    compare_results,
    run_query,
)
from sqlora.sql.parsing import parse_or_none
from sqlora.sql.schema import Table, clean_type, parse_schema, quote_identifier

DEFAULT_K = 5
MAX_ROWS = 10_000
NUMERIC_AGGS = (exp.Sum, exp.Avg)
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Glob)

ColumnKey = tuple[str, str]  # (table, column), lower-case


@dataclass
class Plan:
    """What the generator knows about the gold query: literals per column, join links, numeric columns."""

    literals: dict[ColumnKey, list[object]] = field(default_factory=lambda: defaultdict(list))
    links: list[tuple[ColumnKey, ColumnKey]] = field(default_factory=list)
    numeric: set[ColumnKey] = field(default_factory=set)


def merge_tables(tables: list[Table]) -> list[Table]:
    """One table per name and one column per name (case-insensitive): sql-create-context repeats both."""
    merged: dict[str, Table] = {}
    for table in tables:
        target = merged.setdefault(table.name.lower(), Table(table.name))
        for name, declared in table.columns:
            if name.lower() not in {c.lower() for c in target.column_names}:
                target.columns.append((name, declared))
    return [t for t in merged.values() if t.columns]


def _kind(declared: str) -> str:
    """int, real or text, from a declared column type."""
    affinity = clean_type(declared).upper()
    if "INT" in affinity:
        return "int"
    if any(word in affinity for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL", "NUMBER")):
        return "real"
    return "text"


def _literal_value(node: exp.Expression, columns: set[str]) -> tuple[bool, object]:
    """(is a literal, its Python value); ``"John"`` counts as a string when no column has that name."""
    if isinstance(node, exp.Literal):
        if node.is_string:
            return True, node.this
        text = node.this
        try:
            return True, int(text)
        except ValueError:
            try:
                return True, float(text)
            except ValueError:
                return True, text
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        ok, value = _literal_value(node.this, columns)
        return ok, -value if isinstance(value, int | float) else value
    if isinstance(node, exp.Column) and not node.table and node.this.quoted and node.name.lower() not in columns:
        return True, node.name
    return False, None


class _Resolver:
    """Map a column reference in the gold query to the schema columns it may mean."""

    def __init__(self, tables: list[Table], tree: exp.Expression) -> None:
        self.by_table = {t.name.lower(): {c.lower() for c in t.column_names} for t in tables}
        self.all_columns = {c for cols in self.by_table.values() for c in cols}
        self.aliases: dict[str, set[str]] = defaultdict(set)
        used = set()
        for table in tree.find_all(exp.Table):
            name = table.name.lower()
            used.add(name)
            self.aliases[(table.alias or table.name).lower()].add(name)
            self.aliases[name].add(name)
        self.used = used & set(self.by_table)

    def resolve(self, column: exp.Column) -> list[ColumnKey]:
        name = column.name.lower()
        if column.table:
            tables = self.aliases.get(column.table.lower(), {column.table.lower()})
        else:
            tables = self.used or set(self.by_table)
        found = [(t, name) for t in tables if name in self.by_table.get(t, ())]
        if not found and not column.table:
            found = [(t, name) for t, cols in self.by_table.items() if name in cols]
        return found


def _like_examples(pattern: str, rng: random.Random) -> list[str]:
    """Strings that match a LIKE pattern (and one near miss)."""

    def fill(char: str) -> str:
        if char == "%":
            return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(0, 3)))
        if char == "_":
            return rng.choice(string.ascii_lowercase)
        return char

    matches = ["".join(fill(c) for c in pattern) for _ in range(2)]
    core = pattern.replace("%", "").replace("_", "")
    return [*matches, core, core[:-1] if len(core) > 1 else core + "q"]


def plan_for(gold: str, tables: list[Table]) -> Plan:
    """Extract literals (with the columns they are compared with), join links and numeric columns."""
    plan = Plan()
    tree = parse_or_none(gold)
    if tree is None:
        return plan
    resolver = _Resolver(tables, tree)
    rng = random.Random(gold)

    def add(column: exp.Expression, value: object, like: bool = False) -> None:
        if not isinstance(column, exp.Column):
            return
        for key in resolver.resolve(column):
            if like and isinstance(value, str):
                plan.literals[key].extend(_like_examples(value, rng))
            else:
                plan.literals[key].append(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                plan.numeric.add(key)

    for node in tree.find_all(*COMPARISONS, exp.In, exp.Between):
        if isinstance(node, exp.In):
            for item in node.expressions:
                ok, value = _literal_value(item, resolver.all_columns)
                if ok:
                    add(node.this, value)
            continue
        if isinstance(node, exp.Between):
            for bound in (node.args.get("low"), node.args.get("high")):
                ok, value = _literal_value(bound, resolver.all_columns) if bound is not None else (False, None)
                if ok:
                    add(node.this, value)
            continue
        left, right = node.this, node.expression
        like = isinstance(node, exp.Like | exp.ILike | exp.Glob)
        for column, other in ((left, right), (right, left)):
            ok, value = _literal_value(other, resolver.all_columns)
            if ok and isinstance(column, exp.Column) and not _literal_value(column, resolver.all_columns)[0]:
                add(column, value, like)
        if isinstance(node, exp.EQ) and isinstance(left, exp.Column) and isinstance(right, exp.Column):
            for a in resolver.resolve(left):
                for b in resolver.resolve(right):
                    plan.links.append((a, b))
    for agg in tree.find_all(*NUMERIC_AGGS):
        for column in agg.find_all(exp.Column):
            plan.numeric.update(resolver.resolve(column))
    return plan


def _groups(tables: list[Table], plan: Plan) -> dict[ColumnKey, ColumnKey]:
    """Union-find over joined columns (and same-named columns across tables): one value pool per group."""
    parent: dict[ColumnKey, ColumnKey] = {}

    def find(key: ColumnKey) -> ColumnKey:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    by_name: dict[str, list[ColumnKey]] = defaultdict(list)
    for table in tables:
        for column in table.column_names:
            key = (table.name.lower(), column.lower())
            find(key)
            by_name[column.lower()].append(key)
    links = list(plan.links) + [(keys[0], k) for keys in by_name.values() for k in keys[1:]]
    for a, b in links:
        parent[find(a)] = find(b)
    return {key: find(key) for key in list(parent)}


def _random_word(rng: random.Random) -> str:
    word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 7)))
    return word.capitalize() if rng.random() < 0.5 else word


def _pool(kind: str, literals: list[object], size: int, rng: random.Random) -> list[object]:
    """Random values of a kind, in the range of the planted literals when there are numeric ones."""
    numbers = [v for v in literals if isinstance(v, int | float) and not isinstance(v, bool)]
    if kind in ("int", "real"):
        low = min(numbers, default=0) - 10
        high = max(numbers, default=40) + 10
        if kind == "int":
            return [rng.randint(int(low), int(high)) for _ in range(size)]
        return [round(rng.uniform(low, high), 2) for _ in range(size)]
    return [_random_word(rng) for _ in range(size)]


def _neighbours(values: list[object]) -> list[object]:
    """Each literal with, for numbers, the values just below and above it."""
    out: list[object] = []
    for value in values:
        out.append(value)
        if isinstance(value, int) and not isinstance(value, bool):
            out.extend([value - 1, value + 1])
        elif isinstance(value, float):
            out.extend([value - 0.5, value + 0.5])
        elif isinstance(value, str) and value and value.lower() != value:
            out.append(value.lower())
    return out


def build_database(tables: list[Table], plan: Plan, seed: str, dense: bool = False) -> sqlite3.Connection:
    """One generated database (in memory, read-only once filled)."""
    rng = random.Random(seed)
    groups = _groups(tables, plan)
    kinds: dict[ColumnKey, str] = {}
    for table in tables:
        for name, declared in table.columns:
            key = (table.name.lower(), name.lower())
            kind = _kind(declared)
            kinds[key] = "int" if kind == "text" and key in plan.numeric else kind
    group_literals: dict[ColumnKey, list[object]] = defaultdict(list)
    group_kind: dict[ColumnKey, str] = {}
    for key, root in groups.items():
        group_literals[root].extend(_neighbours(plan.literals.get(key, [])))
        ranked = ("text", "real", "int")  # a group that holds any number column draws numbers
        current = group_kind.get(root, "text")
        group_kind[root] = max(current, kinds.get(key, "text"), key=ranked.index)
    rows_per_table = rng.randint(10, 24)
    pools = {
        root: _pool(group_kind[root], lits, max(3, rng.randint(3, rows_per_table // 2 + 3)), rng)
        for root, lits in group_literals.items()
    }
    plant_rate = 0.6 if dense else 0.35
    null_rate = 0.0 if dense else rng.choice([0.0, 0.0, 0.05, 0.1])

    conn = sqlite3.connect(":memory:", check_same_thread=False)
    for table in tables:
        columns = ", ".join(f"{quote_identifier(n)} {clean_type(t)}" for n, t in table.columns)
        conn.execute(f"CREATE TABLE {quote_identifier(table.name)} ({columns})")
        rows = []
        for _ in range(rows_per_table):
            row = []
            for name, _declared in table.columns:
                root = groups[(table.name.lower(), name.lower())]
                planted = group_literals[root]
                if planted and rng.random() < plant_rate:
                    row.append(rng.choice(planted))
                elif rng.random() < null_rate:
                    row.append(None)
                else:
                    row.append(rng.choice(pools[root]))
            rows.append(row)
        marks = ", ".join("?" * len(table.columns))
        conn.executemany(f"INSERT INTO {quote_identifier(table.name)} VALUES ({marks})", rows)
    conn.commit()
    conn.execute("PRAGMA query_only = ON")
    return conn


@dataclass
class TestSuite:
    """Generated databases for one (context, gold) pair with the gold results on each."""

    databases: list[sqlite3.Connection]
    gold_results: list[QueryResult]
    gold: str
    weak: bool = False  # the gold query returned no rows on any database

    __test__ = False  # not a pytest class

    def match(
        self, pred: str, timeout_s: float = DEFAULT_TIMEOUT_S, allow_column_permutation: bool = True
    ) -> ExecutionOutcome:
        """Correct only when ``pred`` returns the gold result on every database."""
        if not self.databases:
            return ExecutionOutcome(GOLD_ERROR, "no test databases could be built from the context")
        verdict = ExecutionOutcome(CORRECT, None, True)
        for conn, gold in zip(self.databases, self.gold_results, strict=True):
            outcome = compare_results(
                gold, run_query(conn, pred, timeout_s, MAX_ROWS), self.gold, allow_column_permutation
            )
            if outcome.outcome in (GOLD_ERROR, PRED_ERROR, PRED_TIMEOUT):
                return outcome
            if outcome.outcome == WRONG:
                verdict = ExecutionOutcome(WRONG, None, True)
        return verdict


def _seed(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16]


@lru_cache(maxsize=128)
def build_test_suite(
    context: str, gold: str, k: int = DEFAULT_K, seed: int = 0, timeout_s: float = DEFAULT_TIMEOUT_S
) -> TestSuite:
    """K databases for ``gold`` over ``context``; when gold is empty on all of them, K denser ones are added."""
    try:
        tables = merge_tables(parse_schema(context))
    except (ParseError, TokenError, RecursionError):
        tables = []
    if not tables:
        return TestSuite([], [], gold)
    plan = plan_for(gold, tables)
    databases: list[sqlite3.Connection] = []
    results: list[QueryResult] = []
    for round_, dense in enumerate((False, True)):
        for index in range(k):
            try:
                conn = build_database(tables, plan, _seed(seed, round_, index, context, gold), dense)
            except sqlite3.Error:
                return TestSuite([], [], gold)
            databases.append(conn)
            results.append(run_query(conn, gold, timeout_s, MAX_ROWS))
        if any(not r.ok for r in results) or any(r.rows for r in results):
            break
    weak = all(r.ok and not r.rows for r in results)
    return TestSuite(databases, results, gold, weak)


def testsuite_match(
    context: str, gold: str, pred: str, k: int = DEFAULT_K, seed: int = 0, timeout_s: float = DEFAULT_TIMEOUT_S
) -> ExecutionOutcome:
    """Test-suite execution accuracy of ``pred`` against ``gold`` over generated databases."""
    return build_test_suite(context, gold, k, seed, timeout_s).match(pred, timeout_s)


testsuite_match.__test__ = False  # type: ignore[attr-defined]
