"""``TrainConfig`` -> transformers' ``TrainingArguments`` (the engine's settings, one mapping)."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from sqlora.training.config import TrainConfig


def load_fsdp_config(path: str) -> dict:
    """transformers' ``fsdp_config`` mapping from a YAML file (configs/fsdp/qlora.yaml)."""
    values = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: an FSDP config is a mapping of transformers' fsdp_config keys")
    return values


def training_arguments(config: TrainConfig, precision: str, total_steps: int | None, device: str):
    """The Trainer's arguments for ``config`` run in ``precision`` (``no``/``fp16``/``bf16``)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        **engine_settings(config, precision, total_steps, device),
        per_device_eval_batch_size=config.batch_size,
        eval_strategy="steps" if config.eval_steps else "no",
        eval_steps=config.eval_steps or None,
        metric_for_best_model="eval_loss" if config.eval_steps else None,
        greater_is_better=False,
        label_names=["labels"],
        prediction_loss_only=True,
        include_num_input_tokens_seen="non_padding",
    )


def engine_settings(config: TrainConfig, precision: str, total_steps: int | None, device: str) -> dict:
    """The settings every sqlora trainer shares (supervised and RL): schedule, precision, checkpoints, engines.

    ``total_steps`` (when known) caps the warmup at the run's length, as the article's 100 warmup steps would
    otherwise exceed a short run.
    """
    save = bool(config.save_steps)
    warmup = min(config.warmup_steps, total_steps) if total_steps else config.warmup_steps
    return dict(
        output_dir=config.output,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=warmup,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm or math.inf,
        optim="adamw_torch",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=device == "cpu",
        activation_checkpointing=config.gradient_checkpointing == "on",  # "auto" is decided once the model is known
        activation_checkpointing_kwargs={"use_reentrant": False},  # the reentrant variant breaks DDP with PEFT
        logging_steps=config.logging_steps or 10**9,
        logging_first_step=False,
        logging_nan_inf_filter=False,  # a NaN loss is logged as NaN, not hidden behind the running mean
        save_strategy="steps" if save else "no",
        save_steps=config.save_steps if save else 500,
        save_total_limit=config.save_total_limit,
        report_to=config.report_to,
        seed=config.seed,
        data_seed=config.seed,
        remove_unused_columns=False,
        dataloader_pin_memory=device != "cpu",
        ddp_find_unused_parameters=False,
        deepspeed=config.deepspeed,
        fsdp=bool(config.fsdp),
        fsdp_config=load_fsdp_config(config.fsdp) if config.fsdp else None,
    )
