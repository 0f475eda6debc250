"""QLoRA fine-tuning: config, tokenized data, SQL-weighted loss, the training loop, merging."""

from sqlora.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(config: TrainConfig):
    """Fine-tune with ``config``; returns the run summary (see :mod:`sqlora.training.loop`)."""
    from sqlora.training.loop import run_training

    return run_training(config)
