"""The QLoRA training loop: accelerate for devices and processes, PEFT for adapters."""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from sqlora.data.loaders import load_examples
from sqlora.data.record import Example
from sqlora.data.splits import deduplicate, split_by_group
from sqlora.training.batching import batch_plan, shard
from sqlora.training.checkpoint import list_checkpoints, load_checkpoint, restore_rng, save_checkpoint
from sqlora.training.config import TrainConfig
from sqlora.training.features import Features, collate, encode_example
from sqlora.training.loss import AnswerLoss
from sqlora.training.memory import peak_memory_bytes, return_freed_memory_to_os, trim_heap
from sqlora.training.progress import RunLogger

ADAPTER_META = "sqlora.json"
# Batches are padded to a multiple of this many tokens: oneDNN and the allocators keep state per tensor
# shape, so one shape per sequence length makes the resident size climb all run (bench/train_bench.py).
PAD_MULTIPLE = 16


class PreparedData(NamedTuple):
    train: list[Features]
    validation: list[Features]
    counts: dict
    validation_rows: list[Example]


def prepare_data(config: TrainConfig, tokenizer) -> PreparedData:
    """Load, deduplicate, split by database and tokenize."""
    load = lambda source: load_examples(source, db_dir=config.db_dir, spider_schema=config.spider_schema)  # noqa: E731
    examples = deduplicate(e for source in config.data_sources for e in load(source).examples)
    held = set(config.holdout_dbs)
    examples = [e for e in examples if e.db_id not in held]
    if config.eval_data:
        train_rows = examples
        valid_rows = load(config.eval_data).examples
    else:
        splits = split_by_group(examples, validation=config.validation_fraction, test=0.0, seed=config.seed)
        train_rows, valid_rows = splits.train, splits.validation
    if config.max_examples and len(train_rows) > config.max_examples:
        train_rows = random.Random(config.seed).sample(train_rows, config.max_examples)
    encode = lambda e: encode_example(e, tokenizer, config.prompt_style, config.token_weights, config.max_length)  # noqa: E731
    train = [f for f in map(encode, train_rows) if f is not None]
    valid = [f for f in map(encode, valid_rows[:256]) if f is not None]
    counts = {"train_rows": len(train_rows), "train_encoded": len(train), "validation": len(valid)}
    counts["too_long"] = len(train_rows) - len(train)
    return PreparedData(train, valid, counts, valid_rows)


def build_model(config: TrainConfig, device: str, precision: str = "no"):
    """The base model (4-bit NF4 unless --no-quantize) with fresh LoRA adapters, trained in ``precision``."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from sqlora.models.loading import load_model

    dtype = torch.float32 if device == "cpu" else None
    model = load_model(config.model, quantize=config.quantize, device=device, dtype=dtype)
    # bitsandbytes 0.50 on AVX512-BF16 CPUs repacks 4-bit weights for inference at the first eval-mode forward;
    # training forwards after that run a kernel without autograd and silently drop gradients. Keep them trainable.
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    checkpointing = config.gradient_checkpointing
    use_checkpointing = checkpointing == "on" or (
        checkpointing == "auto" and device != "cpu" and model.num_parameters() > 1_000_000_000
    )
    if config.quantize:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=use_checkpointing)
    elif use_checkpointing:
        model.gradient_checkpointing_enable()
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    if precision == "bf16":
        frozen_weights_to_bf16(model)
    model.train()
    return model


def frozen_weights_to_bf16(model) -> None:
    """Keep the frozen float weights (embeddings, norms) in bf16, so the residual stream and the activations
    saved for backward are bf16 rather than fp32 (half the memory).

    prepare_model_for_kbit_training upcasts them to fp32 because fp16 overflows; bf16 has fp32's range.
    The LoRA weights stay fp32 for the optimizer.
    """
    for parameter in model.parameters():
        if not parameter.requires_grad and parameter.dtype == torch.float32:
            parameter.data = parameter.data.to(torch.bfloat16)


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 math (AVX512-BF16 / AMX), where bf16 autocast is ~1.6x faster."""
    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    return bool(check and check())


def mixed_precision(config: TrainConfig, device: str) -> str:
    """auto: bf16 where the hardware has it (GPUs and AVX512-BF16 CPUs), fp16 on older GPUs, else fp32."""
    if config.mixed_precision != "auto":
        return config.mixed_precision
    if device == "cpu":
        return "bf16" if cpu_supports_bf16() else "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


@torch.no_grad()
def evaluate_loss(loss_model, features: list[Features], batch_size: int, pad_id: int, device) -> float | None:
    if not features:
        return None
    loss_model.eval()
    total, weight = 0.0, 0
    for start in range(0, len(features), batch_size):
        batch = features[start : start + batch_size]
        tensors = {k: v.to(device) for k, v in collate(batch, pad_id, PAD_MULTIPLE).items()}
        loss, tokens = loss_model(**tensors)
        total += float(loss) * int(tokens)
        weight += int(tokens)
    loss_model.train()
    return total / max(weight, 1)


def execution_accuracy_sample(model, tokenizer, rows: list[Example], prompt_style: str, db_dir) -> float | None:
    """EX of the model being trained on a few validation rows (real databases, else test suites)."""
    from sqlora.evaluation.runner import evaluate
    from sqlora.inference.generator import SQLGenerator

    if not rows:
        return None
    model.eval()
    generator = SQLGenerator.from_model(model, tokenizer, prompt_style, max_new_tokens=128, repair=False)
    try:
        return evaluate(rows, generator, db_dir, progress=False).aggregates.get("ex")
    finally:
        tokenizer.padding_side = "right"
        model.train()


def run_training(config: TrainConfig) -> dict:
    """Fine-tune per ``config``; writes the adapter, resolved config and summary.json to config.output."""
    from accelerate import Accelerator
    from peft.helpers import disable_input_dtype_casting
    from transformers import get_linear_schedule_with_warmup

    from sqlora.models.loading import load_tokenizer

    if config.threads:
        torch.set_num_threads(config.threads)
    device_kind = "cuda" if torch.cuda.is_available() else "cpu"
    if device_kind == "cpu":
        return_freed_memory_to_os()
    accelerator = Accelerator(
        mixed_precision=mixed_precision(config, device_kind),
        cpu=device_kind == "cpu",
        step_scheduler_with_optimizer=False,
    )
    main = accelerator.is_main_process
    output = Path(config.output)
    output.mkdir(parents=True, exist_ok=True)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)

    tokenizer = load_tokenizer(config.model)
    train_set, valid_set, counts, valid_rows = prepare_data(config, tokenizer)
    if not train_set:
        raise ValueError(f"no training examples could be built from {config.data}")
    lengths = [len(f) for f in train_set]
    batches_per_epoch = len(shard(batch_plan(lengths, config.batch_size, 0, config.seed), 0, accelerator.num_processes))
    steps_per_epoch = max(1, batches_per_epoch // config.grad_accum)
    total_steps = config.max_steps or math.ceil(steps_per_epoch * config.epochs)

    device = "cuda" if device_kind == "cuda" else "cpu"
    precision = accelerator.mixed_precision
    model = build_model(config, f"cuda:{accelerator.local_process_index}" if device == "cuda" else "cpu", precision)
    loss_model = AnswerLoss(model)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, min(config.warmup_steps, total_steps), total_steps)
    loss_model, optimizer = accelerator.prepare(loss_model, optimizer)

    state = {"step": 0, "epoch": 0, "batch": 0, "best_eval": None, "bad_evals": 0, "history": [], "tokens": 0}
    checkpoints = list_checkpoints(output) if config.resume else []
    if checkpoints:
        saved = load_checkpoint(checkpoints[-1], model)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        restore_rng(saved["rng"])
        state = saved["state"]
    if main:
        config.save(output / "train_config.yaml")
        meta = {"base_model": config.model or "embedded", "prompt_style": config.prompt_style}
        meta["quantized"] = config.quantize
        (output / ADAPTER_META).write_text(json.dumps(meta, indent=2))
    logger = RunLogger(output, total_steps, enabled=main, start=state["step"])
    pad_id = tokenizer.pad_token_id
    window_loss, window_count = 0.0, 0
    started = time.perf_counter()
    tokens_at_start = state["tokens"]
    stop = False
    while state["step"] < total_steps and not stop:
        plan = shard(
            batch_plan(lengths, config.batch_size, state["epoch"], config.seed, config.length_grouping),
            accelerator.process_index,
            accelerator.num_processes,
        )
        usable = len(plan) - len(plan) % config.grad_accum
        while state["batch"] < usable and state["step"] < total_steps:
            for micro in range(config.grad_accum):
                batch = [train_set[i] for i in plan[state["batch"] + micro]]
                tensors = {k: v.to(accelerator.device) for k, v in collate(batch, pad_id, PAD_MULTIPLE).items()}
                if device == "cpu":
                    trim_heap()
                # Under autocast, LoRA layers need not copy their input to fp32 (nor keep an fp32 dropout mask).
                with accelerator.autocast(), disable_input_dtype_casting(model, active=precision != "no"):
                    loss, _ = loss_model(**tensors)
                accelerator.backward(loss / config.grad_accum)
                window_loss += float(loss.detach()) / config.grad_accum
                state["tokens"] += int(tensors["attention_mask"].sum()) * accelerator.num_processes
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["batch"] += config.grad_accum
            state["step"] += 1
            window_count += 1
            step = state["step"]
            elapsed = time.perf_counter() - started
            tokens_per_s = (state["tokens"] - tokens_at_start) / max(elapsed, 1e-9)
            logger.advance(step)
            if (config.logging_steps and step % config.logging_steps == 0) or step == total_steps:
                record = {"step": step, "loss": window_loss / window_count, "lr": scheduler.get_last_lr()[0]}
                record["tokens_per_s"] = round(tokens_per_s, 1)
                state["history"].append(record)
                logger.log(record)
                window_loss, window_count = 0.0, 0
            if config.eval_steps and (step % config.eval_steps == 0 or step == total_steps):
                eval_loss = evaluate_loss(loss_model, valid_set, config.batch_size, pad_id, accelerator.device)
                if main and config.eval_ex_samples:
                    sample = valid_rows[: config.eval_ex_samples]
                    ex = execution_accuracy_sample(model, tokenizer, sample, config.prompt_style, config.db_dir)
                    if ex is not None:
                        logger.log({"step": step, "eval_ex": ex})
                        state["history"].append({"step": step, "eval_ex": ex})
                if eval_loss is not None:
                    logger.log({"step": step, "eval_loss": eval_loss})
                    state["history"].append({"step": step, "eval_loss": eval_loss})
                    if state["best_eval"] is None or eval_loss < state["best_eval"]:
                        state["best_eval"], state["bad_evals"] = eval_loss, 0
                    else:
                        state["bad_evals"] += 1
                    patience = config.early_stopping_patience
                    if patience and state["bad_evals"] >= patience:
                        logger.message(f"early stopping at step {step}: eval loss has not improved {patience}x")
                        stop = True
            if main and config.save_steps and step % config.save_steps == 0 and step < total_steps:
                saved_state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "state": state}
                save_checkpoint(
                    output, step, accelerator.unwrap_model(loss_model).model, saved_state, config.save_total_limit
                )
            accelerator.wait_for_everyone()
            if stop:
                break
        if state["batch"] >= usable:
            state["epoch"] += 1
            state["batch"] = 0

    elapsed = time.perf_counter() - started
    logger.close()
    final_losses = [h["loss"] for h in state["history"] if "loss" in h]
    summary = {
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "examples": counts,
        "tokens": state["tokens"],
        "tokens_per_s": round((state["tokens"] - tokens_at_start) / max(elapsed, 1e-9), 1),
        "elapsed_s": round(elapsed, 1),
        "peak_memory_bytes": peak_memory_bytes(str(accelerator.device)),
        "final_loss": final_losses[-1] if final_losses else None,
        "first_loss": final_losses[0] if final_losses else None,
        "best_eval_loss": state["best_eval"],
        "early_stopped": stop,
        "history": state["history"],
        "processes": accelerator.num_processes,
        "quantized": config.quantize,
    }
    if main:
        unwrapped = accelerator.unwrap_model(loss_model).model
        unwrapped.save_pretrained(output)
        (output / "summary.json").write_text(json.dumps(summary, indent=2))
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if "RANK" in os.environ and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return summary
