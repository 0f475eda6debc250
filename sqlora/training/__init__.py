"""QLoRA fine-tuning on transformers' Trainer: config, tokenized data, SQL-weighted loss, callbacks, merging."""

from sqlora.training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(config: TrainConfig) -> dict:
    """Fine-tune with ``config`` (supervised, or GRPO with ``method="grpo"``); returns the run summary."""
    if config.method == "grpo":
        from sqlora.training.grpo import run_grpo

        return run_grpo(config)
    from sqlora.training.run import run_training

    return run_training(config)
