"""Execution accuracy: run gold and predicted SQL on SQLite and compare their results as Spider does."""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.db.executors import QueryError, QueryResult, QueryTimeout, run_sqlite
from sqlora.db.sqlite import connect_readonly

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_ROWS = 100_000
FLOAT_DECIMALS = 6
MAX_PERMUTATIONS = 5_000

CORRECT, WRONG, PRED_ERROR, PRED_TIMEOUT, GOLD_ERROR = "correct", "wrong", "pred_error", "pred_timeout", "gold_error"

Row = tuple
Rows = list[Row]


@dataclass
class ExecutionOutcome:
    """How a prediction compared: outcome label, ex (None when the gold failed) and the error if any."""

    outcome: str
    error: str | None = None
    pred_executed: bool = False

    @property
    def ex(self) -> bool | None:
        if self.outcome == GOLD_ERROR:
            return None
        return self.outcome == CORRECT


def run_query(
    conn: sqlite3.Connection, sql: str, timeout_s: float = DEFAULT_TIMEOUT_S, max_rows: int = DEFAULT_MAX_ROWS
) -> QueryResult:
    """:func:`sqlora.db.executors.run_sqlite` with failures kept as values: never raises."""
    if not sql or not sql.strip():
        return QueryResult(sql=sql, error="empty query")
    try:
        return run_sqlite(conn, sql, timeout_s, max_rows)
    except QueryTimeout:
        return QueryResult(sql=sql, error=f"timed out after {timeout_s:g} s", timed_out=True)
    except QueryError as err:
        return QueryResult(sql=sql, error=str(err))


def normalize_value(value: object) -> object:
    """A hashable, comparable form: floats rounded, integral numbers as int (1 == 1.0), NULL kept."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return value
        rounded = round(value, FLOAT_DECIMALS)
        return int(rounded) if rounded.is_integer() else rounded
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def normalize_rows(rows: Sequence[Sequence]) -> Rows:
    return [tuple(normalize_value(v) for v in row) for row in rows]


def _column_candidates(gold: Rows, pred: Rows, width: int) -> list[list[int]]:
    """For each gold column, the predicted columns holding the same multiset of values."""
    gold_cols = [Counter(row[i] for row in gold) for i in range(width)]
    pred_cols = [Counter(row[i] for row in pred) for i in range(width)]
    return [[j for j in range(width) if pred_cols[j] == gold_cols[i]] for i in range(width)]


def results_match(
    gold_rows: Sequence[Sequence], pred_rows: Sequence[Sequence], ordered: bool, allow_column_permutation: bool = True
) -> bool:
    """Spider-style result equality: multisets of rows (lists when ``ordered``), columns may be permuted."""
    gold, pred = normalize_rows(gold_rows), normalize_rows(pred_rows)
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    width = len(gold[0])
    if any(len(r) != width for r in pred) or any(len(r) != width for r in gold):
        return False

    def same(candidate: Rows) -> bool:
        return candidate == gold if ordered else Counter(candidate) == Counter(gold)

    if same(pred):
        return True
    if not allow_column_permutation or width == 1:
        return False
    candidates = _column_candidates(gold, pred, width)
    for perm in itertools.islice(itertools.product(*candidates), MAX_PERMUTATIONS):
        if len(set(perm)) != width or list(perm) == list(range(width)):
            continue
        if same([tuple(row[j] for j in perm) for row in pred]):
            return True
    return False


@lru_cache(maxsize=4096)
def has_top_level_order_by(sql: str) -> bool:
    """Whether the outermost query sorts its result (then row order matters)."""
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (ParseError, TokenError, RecursionError):
        return "order by" in " ".join(sql.lower().split())
    while isinstance(tree, exp.Subquery):
        tree = tree.this
    return tree is not None and tree.args.get("order") is not None


def compare_results(
    gold: QueryResult, pred: QueryResult, gold_sql: str, allow_column_permutation: bool = True
) -> ExecutionOutcome:
    """Classify one (gold, prediction) pair of query results."""
    if not gold.ok:
        return ExecutionOutcome(GOLD_ERROR, f"gold failed: {gold.error}", pred.ok)
    if pred.timed_out:
        return ExecutionOutcome(PRED_TIMEOUT, pred.error)
    if not pred.ok:
        return ExecutionOutcome(PRED_ERROR, pred.error)
    if pred.truncated != gold.truncated:
        return ExecutionOutcome(WRONG, "one result exceeds the row cap", True)
    same = results_match(gold.rows or [], pred.rows or [], has_top_level_order_by(gold_sql), allow_column_permutation)
    return ExecutionOutcome(CORRECT if same else WRONG, None, True)


def execution_match(
    db: str | Path | sqlite3.Connection,
    gold_sql: str,
    pred_sql: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_rows: int = DEFAULT_MAX_ROWS,
    allow_column_permutation: bool = True,
) -> ExecutionOutcome:
    """Execution accuracy of ``pred_sql`` against ``gold_sql`` on one database (a path or an open connection)."""
    conn = db if isinstance(db, sqlite3.Connection) else connect_readonly(db)
    try:
        gold = run_query(conn, gold_sql, timeout_s, max_rows)
        pred = run_query(conn, pred_sql, timeout_s, max_rows)
    finally:
        if conn is not db:
            conn.close()
    return compare_results(gold, pred, gold_sql, allow_column_permutation)
