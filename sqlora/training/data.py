"""Training rows: load, deduplicate, split by database, tokenize."""

from __future__ import annotations

import random
from pathlib import Path
from typing import NamedTuple

from sqlora.data.loaders import load_examples
from sqlora.data.record import Example
from sqlora.data.splits import deduplicate, split_by_group
from sqlora.training.config import TrainConfig
from sqlora.training.features import Features, encode_example

MAX_VALIDATION_ROWS = 256


class PreparedData(NamedTuple):
    train: list[Features]
    validation: list[Features]
    counts: dict
    validation_rows: list[Example]


def load_rows(config: TrainConfig, source: str) -> list[Example]:
    """A source's rows; a Spider folder gives its questions once per configured schema mode."""
    modes = config.spider_schemas if Path(source).is_dir() else config.spider_schemas[:1]
    return [e for mode in modes for e in load_examples(source, db_dir=config.db_dir, spider_schema=mode).examples]


def prepare_data(config: TrainConfig, tokenizer) -> PreparedData:
    """Load, deduplicate, split by database (no database in both splits) and tokenize."""
    examples = deduplicate(e for source in config.data_sources for e in load_rows(config, source))
    held = set(config.holdout_dbs)
    examples = [e for e in examples if e.db_id not in held]
    if config.eval_data:
        train_rows, valid_rows = examples, load_rows(config, config.eval_data)
    else:
        splits = split_by_group(examples, validation=config.validation_fraction, test=0.0, seed=config.seed)
        train_rows, valid_rows = splits.train, splits.validation
    if config.max_examples and len(train_rows) > config.max_examples:
        train_rows = random.Random(config.seed).sample(train_rows, config.max_examples)

    def encode(example: Example) -> Features | None:
        return encode_example(example, tokenizer, config.prompt_style, config.token_weights, config.max_length)

    train = [f for f in map(encode, train_rows) if f is not None]
    valid = [f for f in map(encode, valid_rows[:MAX_VALIDATION_ROWS]) if f is not None]
    counts = {"train_rows": len(train_rows), "train_encoded": len(train), "validation": len(valid)}
    counts["too_long"] = len(train_rows) - len(train)
    return PreparedData(train, valid, counts, valid_rows)
