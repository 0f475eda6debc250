"""Run a generator over examples and score every answer: EX (real DB or test suite), EM, validity, hardness."""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sqlora.data.record import Example
from sqlora.db.context import sqlite_file_values
from sqlora.db.sqlite import connect_readonly
from sqlora.evaluation.exact_match import exact_match
from sqlora.evaluation.execution import (
    DEFAULT_TIMEOUT_S,
    ExecutionOutcome,
    execution_match,
    run_query,
)
from sqlora.evaluation.hardness import LEVELS, spider_hardness
from sqlora.evaluation.testsuite import DEFAULT_K, testsuite_match
from sqlora.sql.linking import ValueIndex

DATABASE, TESTSUITE = "database", "testsuite"


class Generator(Protocol):
    """What the runner needs from a model: :class:`sqlora.inference.generator.SQLGenerator` fits."""

    def generate_batch(
        self,
        pairs: list[tuple[str, str]],
        checks: Sequence[Callable | None] | None = None,
        values: Sequence[ValueIndex | None] | None = None,
    ) -> list: ...


@dataclass
class ExampleResult:
    """One scored answer."""

    db_id: str | None
    question: str
    gold: str
    pred: str
    ex: bool | None
    em: bool
    valid: bool
    hardness: str | None
    latency_s: float
    generated_tokens: int
    error: str | None
    outcome: str
    method: str
    schema_valid: bool = False
    rejected: str | None = None  # why the database check refused the chosen answer (no better candidate)
    repaired: bool = False  # the answer is not the model's first as written (names repaired or a beam chosen)


@dataclass
class EvalReport:
    """Per-example results, their aggregates and what was evaluated."""

    examples: list[ExampleResult]
    aggregates: dict
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Aggregates at the top level plus an ``examples`` list (the ``--json`` layout)."""
        return {**self.meta, **self.aggregates, "examples": [asdict(e) for e in self.examples]}


def database_path(example: Example, db_dir: str | Path | None) -> str | None:
    """The example's SQLite file: its db_path, else ``db_dir/<db_id>/<db_id>.sqlite`` when that exists."""
    if example.db_path and Path(example.db_path).exists():
        return example.db_path
    if db_dir and example.db_id:
        candidate = Path(db_dir) / example.db_id / f"{example.db_id}.sqlite"
        if candidate.exists():
            return str(candidate)
    return None


def select_examples(
    examples: Sequence[Example],
    limit: int | None = None,
    seed: int | None = None,
    holdout_dbs: Iterable[str] | None = None,
) -> list[Example]:
    """Keep rows of ``holdout_dbs`` (if given), shuffle with ``seed`` (if given), then keep the first ``limit``."""
    chosen = list(examples)
    wanted = {d.strip() for d in holdout_dbs or [] if d.strip()}
    if wanted:
        chosen = [e for e in chosen if e.db_id in wanted]
    if seed is not None:
        random.Random(seed).shuffle(chosen)
    return chosen[:limit] if limit is not None else chosen


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def aggregate(results: Sequence[ExampleResult], generation_s: float) -> dict:
    """EX over rows whose gold ran, EM, valid rate, by hardness, latency percentiles, tokens, throughput."""
    scored = [r.ex for r in results if r.ex is not None]
    latencies = [r.latency_s for r in results]
    by_hardness = {}
    for level in LEVELS:
        rows = [r for r in results if r.hardness == level]
        level_scored = [r.ex for r in rows if r.ex is not None]
        by_hardness[level] = {"n": len(rows), "ex": _rate(level_scored), "em": _rate([r.em for r in rows])}
    return {
        "n": len(results),
        "n_scored": len(scored),
        "ex": _rate(scored),
        "em": _rate([r.em for r in results]),
        "valid_rate": _rate([r.valid for r in results]),
        "repaired": sum(r.repaired for r in results),
        "by_hardness": by_hardness,
        "outcomes": dict(Counter(r.outcome for r in results)),
        "methods": dict(Counter(r.method for r in results)),
        "latency_s": {
            "mean": float(np.mean(latencies)) if latencies else None,
            "p50": _percentile(latencies, 50),
            "p90": _percentile(latencies, 90),
        },
        "mean_generated_tokens": float(np.mean([r.generated_tokens for r in results])) if results else None,
        "generation_s": generation_s,
        "throughput_qps": len(results) / generation_s if generation_s > 0 else None,
    }


class _Scorer:
    """Scores predictions, keeping one read-only connection per database file."""

    def __init__(self, db_dir: str | Path | None, timeout_s: float, testsuite_k: int, seed: int) -> None:
        self.db_dir, self.timeout_s, self.k, self.seed = db_dir, timeout_s, testsuite_k, seed
        self.connections: dict[str, sqlite3.Connection] = {}

    def connection(self, example: Example) -> sqlite3.Connection | str | None:
        """The example's real database (read-only), an error message if it cannot be opened, or None."""
        path = database_path(example, self.db_dir)
        if path is None:
            return None
        try:
            if path not in self.connections:
                self.connections[path] = connect_readonly(path)
        except sqlite3.Error as err:
            return f"cannot open {path}: {err}"
        return self.connections[path]

    def execution_check(self, example: Example) -> Callable[[str], str | None] | None:
        """For rows with a real database: reject answers that fail or return no rows there (no gold used)."""
        conn = self.connection(example)
        if not isinstance(conn, sqlite3.Connection):
            return None

        def check(sql: str) -> str | None:
            result = run_query(conn, sql, self.timeout_s, max_rows=1)
            return result.error or (None if result.rows else "returned no rows")

        return check

    def values(self, example: Example) -> ValueIndex | None:
        """The text values the example's real database stores (read once per file), for literal grounding."""
        path = database_path(example, self.db_dir)
        if path is None or not isinstance(self.connection(example), sqlite3.Connection):
            return None  # no database, or one that does not open (the row is scored as such)
        return sqlite_file_values(path)

    def score(self, example: Example, pred: str) -> tuple[ExecutionOutcome, str]:
        conn = self.connection(example)
        if isinstance(conn, str):
            return ExecutionOutcome("gold_error", conn), DATABASE
        if conn is not None:
            return execution_match(conn, example.sql, pred, self.timeout_s), DATABASE
        outcome = testsuite_match(example.context, example.sql, pred, self.k, self.seed, self.timeout_s)
        return outcome, TESTSUITE

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()
        self.connections.clear()


def evaluate(
    examples: Sequence[Example],
    generator: Generator,
    db_dir: str | Path | None = None,
    batch_size: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    testsuite_k: int = DEFAULT_K,
    seed: int = 0,
    progress: bool = True,
    label: str = "evaluating",
    meta: dict | None = None,
    execution_checks: bool = True,
) -> EvalReport:
    """Generate SQL for every example (batched) and score it; errors and timeouts are recorded, never raised.

    With ``execution_checks`` the generator may test its answers on each row's real database (read-only,
    no gold involved) to choose among candidates; see ``SQLGenerator.generate_batch``.
    """
    size = batch_size or getattr(generator, "batch_size", None) or 8
    scorer = _Scorer(db_dir, timeout_s, testsuite_k, seed)
    results: list[ExampleResult] = []
    generation_s = 0.0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task(label, total=len(examples))
        try:
            for start in range(0, len(examples), size):
                chunk = examples[start : start + size]
                began = time.perf_counter()
                checks = [scorer.execution_check(e) if execution_checks else None for e in chunk]
                values = [scorer.values(e) for e in chunk]
                answers = generator.generate_batch([(e.question, e.context) for e in chunk], checks, values)
                generation_s += time.perf_counter() - began
                for example, answer in zip(chunk, answers, strict=True):
                    results.append(_score_one(scorer, example, answer))
                bar.advance(task, len(chunk))
        finally:
            scorer.close()
    info = {"label": label, "db_dir": str(db_dir) if db_dir else None, "testsuite_k": testsuite_k, "seed": seed}
    return EvalReport(results, aggregate(results, generation_s), {**info, **(meta or {})})


def _score_one(scorer: _Scorer, example: Example, answer) -> ExampleResult:
    pred = answer.sql or ""
    outcome, method = scorer.score(example, pred)
    return ExampleResult(
        db_id=example.db_id,
        question=example.question,
        gold=example.sql,
        pred=pred,
        ex=outcome.ex,
        em=exact_match(example.sql, pred, example.context),
        valid=bool(pred.strip()) and outcome.pred_executed,
        hardness=spider_hardness(example.sql),
        latency_s=float(answer.latency_s),
        generated_tokens=int(answer.generated_tokens),
        error=outcome.error or (None if answer.valid else "; ".join(answer.errors) or None),
        outcome=outcome.outcome,
        method=method,
        schema_valid=bool(answer.valid),
        rejected=getattr(answer, "rejected", None),
        repaired=bool(getattr(answer, "repaired", False)),
    )
