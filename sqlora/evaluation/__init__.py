"""Evaluation: execution accuracy (real databases and test suites), exact match, hardness, reports.

Submodules: ``execution``, ``testsuite``, ``exact_match``, ``hardness``, ``runner``, ``report``.
"""

from sqlora.evaluation.exact_match import normalize_sql
from sqlora.evaluation.execution import ExecutionOutcome, execution_match, results_match
from sqlora.evaluation.hardness import spider_hardness
from sqlora.evaluation.testsuite import testsuite_match

__all__ = [
    "ExecutionOutcome",
    "execution_match",
    "normalize_sql",
    "results_match",
    "spider_hardness",
    "testsuite_match",
]
