"""QLoRA fine-tuning on transformers' Trainer: config, tokenized data, SQL-weighted loss, callbacks, merging."""

from sqlora.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(config: TrainConfig) -> dict:
    """Fine-tune with ``config``; returns the run summary (see :func:`sqlora.training.run.run_training`)."""
    from sqlora.training.run import run_training

    return run_training(config)
