"""One training run: data, model and the Trainer, wired from a :class:`TrainConfig`."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch

from sqlora.constants import ADAPTER_META
from sqlora.training.allocator import active_allocator
from sqlora.training.config import TrainConfig
from sqlora.training.data import prepare_data
from sqlora.training.hardware import cpu_threads_for_training, resolve_precision
from sqlora.training.memory import peak_memory_bytes, return_freed_memory_to_os


def planned_steps(config: TrainConfig, examples: int, world_size: int) -> int:
    """Optimizer steps the run will take (for capping the warmup)."""
    if config.max_steps:
        return config.max_steps
    batches = math.ceil(examples / (config.batch_size * world_size))
    return max(1, math.ceil(batches / config.grad_accum * config.epochs))


def run_training(config: TrainConfig) -> dict:
    """Fine-tune per ``config``; writes the adapter, resolved config, log and summary.json to ``config.output``."""
    from transformers import EarlyStoppingCallback, set_seed

    from sqlora.models.loading import load_tokenizer
    from sqlora.training.arguments import training_arguments
    from sqlora.training.callbacks import (
        ExecutionAccuracyCallback,
        HeapTrimCallback,
        RunLogCallback,
        TimeBudgetCallback,
        quiet_progress,
    )
    from sqlora.training.features import SQLCollator
    from sqlora.training.model import build_model, wants_checkpointing
    from sqlora.training.trainer import SQLTrainer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    release_memory = device == "cpu" and config.release_memory
    if device == "cpu":
        torch.set_num_threads(config.threads or cpu_threads_for_training())
    if release_memory:
        return_freed_memory_to_os()
    set_seed(config.seed)  # before the model: the LoRA weights' initialization draws from it
    tokenizer = load_tokenizer(config.model)
    data = prepare_data(config, tokenizer)
    if not data.train:
        raise ValueError(f"no training example fits max_length={config.max_length} in {config.data}")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    precision = resolve_precision(config.mixed_precision, device)
    args = training_arguments(config, precision, planned_steps(config, len(data.train), world_size), device)
    output = Path(config.output)
    # Created after the arguments: under DeepSpeed ZeRO-3 they switch transformers to partitioned loading.
    sharded = bool(config.fsdp or config.deepspeed)
    model = build_model(config, precision, device, args.local_process_index, sharded)
    args.activation_checkpointing = wants_checkpointing(config, device, model.num_parameters())

    log = RunLogCallback(output)
    callbacks = [log]
    if release_memory:
        callbacks.append(HeapTrimCallback())
    if config.eval_ex_samples and data.validation_rows and not sharded:
        rows = data.validation_rows[: config.eval_ex_samples]
        callbacks.append(ExecutionAccuracyCallback(rows, config.prompt_style, config.db_dir, log))
    budget = TimeBudgetCallback(config.max_minutes) if config.max_minutes else None
    if budget:
        callbacks.append(budget)
    stopper = None
    if config.early_stopping_patience and config.eval_steps and data.validation:
        stopper = EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)
        callbacks.append(stopper)
    trainer = SQLTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.validation or None,
        data_collator=SQLCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=callbacks,
        length_grouping=config.length_grouping,
        lengths=[len(f) for f in data.train],
    )
    quiet_progress(trainer)
    if trainer.is_fsdp_enabled:
        from peft.utils.other import fsdp_auto_wrap_policy

        trainer.accelerator.state.fsdp_plugin.auto_wrap_policy = fsdp_auto_wrap_policy(trainer.model)
    write_run_files(trainer, config)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_checkpoint(config))
    elapsed = time.perf_counter() - started

    if trainer.is_fsdp_enabled:
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(output))
    summary = run_summary(trainer, log, data.counts, config, elapsed, device, stopper, budget)
    if trainer.is_world_process_zero():
        (output / "summary.json").write_text(json.dumps(summary, indent=2))
    trainer.accelerator.wait_for_everyone()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return summary


def write_run_files(trainer, config: TrainConfig) -> None:
    """The resolved config and the adapter's metadata (base model, prompt style, quantized), from the main process."""
    if not trainer.is_world_process_zero():
        return
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    config.save(output / "train_config.yaml")
    meta = {"base_model": config.model or "embedded", "prompt_style": config.prompt_style, "quantized": config.quantize}
    (output / ADAPTER_META).write_text(json.dumps(meta, indent=2))


def resume_checkpoint(config: TrainConfig) -> str | None:
    """The newest checkpoint in the output directory when ``resume`` is set."""
    from transformers.trainer_utils import get_last_checkpoint

    output = Path(config.output)
    return get_last_checkpoint(str(output)) if config.resume and output.is_dir() else None


def run_summary(trainer, log, counts: dict, config: TrainConfig, elapsed: float, device: str, stopper, budget) -> dict:
    """What the run did: steps, tokens, speed, memory, losses, what stopped it early, and the full history."""
    state = trainer.state
    losses = [h["loss"] for h in log.history if "loss" in h]
    evals = [h["eval_loss"] for h in log.history if "eval_loss" in h]
    steps_per_epoch = max(1, math.ceil(len(trainer.get_train_dataloader()) / config.grad_accum))
    return {
        "steps": state.global_step,
        "epochs_completed": state.global_step // steps_per_epoch,
        "examples": counts,
        "tokens": int(state.num_input_tokens_seen),
        "tokens_per_s": log.tokens_per_s(state),
        "elapsed_s": round(elapsed, 1),
        "peak_memory_bytes": peak_memory_bytes(device),
        "final_loss": losses[-1] if losses else None,
        "first_loss": losses[0] if losses else None,
        "best_eval_loss": min(evals) if evals else None,
        "early_stopped": bool(stopper and stopper.early_stopping_patience_counter >= stopper.early_stopping_patience),
        "stopped_by_time_budget": bool(budget and budget.stopped_at is not None),
        "history": log.history,
        "processes": trainer.args.world_size,
        "threads": torch.get_num_threads() if device == "cpu" else None,
        "precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
        "quantized": config.quantize,
        "allocator": active_allocator(),
    }
