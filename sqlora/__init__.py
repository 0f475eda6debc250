"""sqlora: fine-tune LLMs for text-to-SQL with QLoRA and run them against real databases.

The public API (imported lazily, so ``import sqlora`` loads neither torch nor SQLAlchemy):

* :class:`SQLGenerator` / :func:`generate_sql`: questions over a schema -> validated SQL (:class:`SQLResult`);
* :class:`Database`: a user's database by SQLAlchemy URL, its schema as context, read-only queries
  (:class:`QueryResult`);
* :class:`TrainConfig` / :func:`train`: QLoRA fine-tuning;
* :func:`evaluate`: execution accuracy of a generator on :class:`Example` rows;
* :func:`load_examples`: rows from a JSON/JSONL/Parquet file, a Spider folder or a hub id.

See docs/api.md.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Literal

from sqlora.constants import DEFAULT_MAX_NEW_TOKENS

if TYPE_CHECKING:
    from sqlora.data.loaders import load_examples
    from sqlora.data.record import Example
    from sqlora.db.connect import Database
    from sqlora.db.executors import QueryResult
    from sqlora.evaluation.runner import EvalReport, evaluate
    from sqlora.inference.generator import SQLGenerator, SQLResult
    from sqlora.sql.linking import ValueIndex
    from sqlora.training import TrainConfig, train

try:
    __version__ = version("sqlora")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0"

_LAZY = {
    "Database": "sqlora.db.connect",
    "EvalReport": "sqlora.evaluation.runner",
    "Example": "sqlora.data.record",
    "QueryResult": "sqlora.db.executors",
    "SQLGenerator": "sqlora.inference.generator",
    "SQLResult": "sqlora.inference.generator",
    "TrainConfig": "sqlora.training",
    "evaluate": "sqlora.evaluation.runner",
    "load_examples": "sqlora.data.loaders",
    "train": "sqlora.training",
}

__all__ = [
    "Database",
    "EvalReport",
    "Example",
    "QueryResult",
    "SQLGenerator",
    "SQLResult",
    "TrainConfig",
    "__version__",
    "evaluate",
    "generate_sql",
    "load_examples",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sqlora' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def generate_sql(
    question: str,
    schema: str,
    *,
    model: str | None = None,
    adapter: str | None = None,
    base: bool = False,
    prompt_style: str | None = None,
    precision: str | None = None,
    device: str | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    candidates: int = 1,
    repair: bool = True,
    stop: Literal["sqlora", "eos"] = "sqlora",
    constrained: bool = False,
    values: ValueIndex | None = None,
) -> SQLResult:
    """Answer ``question`` over ``schema`` (CREATE TABLE text) with SQL validated against that schema.

    ``values``, the stored text values of the database (``Database.value_index``), let the answer's filter
    literals be matched to what the rows hold (``state = 'NY'`` -> ``'New York'`` when the question says so).

    The model loads once per process for each combination of settings (:meth:`SQLGenerator.shared`);
    ``model`` None is the embedded SmolLM2-135M-Instruct (or the adapter's base model). On the embedded model
    the answer comes from the adapter shipped with sqlora unless ``adapter`` names another or ``base`` is set
    (the raw model); other base models get no adapter unless one is given.
    """
    from sqlora.inference.generator import SQLGenerator
    from sqlora.models.shipped import answering_adapter

    generator = SQLGenerator.shared(
        model=model,
        adapter=answering_adapter(model, adapter, base),
        prompt_style=prompt_style,
        precision=precision,
        device=device,
        max_new_tokens=max_new_tokens,
        candidates=candidates,
        repair=repair,
        stop=stop,
        constrained=constrained,
    )
    return generator.generate(question, schema, values)
