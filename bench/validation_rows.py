"""Rows of a training run's own validation databases, for choosing settings without touching test rows."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def validation_dbs(adapter: Path) -> list[str]:
    """The databases a run split off for validation: never trained on, and not its held-out test databases."""
    from sqlora.data.splits import deduplicate, split_by_group
    from sqlora.training.config import TrainConfig
    from sqlora.training.data import load_rows

    config = TrainConfig.from_yaml(Path(adapter) / "train_config.yaml")
    examples = deduplicate(e for source in config.data_sources for e in load_rows(config, source))
    examples = [e for e in examples if e.db_id not in set(config.holdout_dbs)]
    splits = split_by_group(examples, validation=config.validation_fraction, test=0.0, seed=config.seed)
    return sorted({e.db_id for e in splits.validation if e.db_id})


def validation_rows(adapter: Path, rows: int) -> list:
    """sql-create-context rows of the run's validation databases, with their real Spider databases for EX."""
    from sqlora.data.loaders import load_examples
    from sqlora.evaluation.runner import select_examples

    sqlcc = load_examples(SHARED / "sql-create-context" / "train.jsonl", db_dir=SHARED / "spider" / "database")
    return select_examples(sqlcc.examples, rows, 0, validation_dbs(adapter))
