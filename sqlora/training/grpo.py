"""Execution-reward reinforcement learning: TRL's GRPOTrainer on sqlora's rows, model and settings.

For each question the policy samples ``num_generations`` answers; an answer earns 1.0 when it runs on the row's
real database and returns the gold query's result, ``VALID_SQL_REWARD`` when it runs but returns something
else, and 0 when it does not run. GRPO raises the likelihood of the answers that beat their group's mean.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch

from sqlora.data.record import Example
from sqlora.data.splits import deduplicate
from sqlora.training.config import TrainConfig

VALID_SQL_REWARD = 0.1


def execution_reward(completions: list[str], gold: list[str], db_path: list[str], **_) -> list[float]:
    """1.0 for the gold result, ``VALID_SQL_REWARD`` for SQL that runs, 0.0 otherwise (TRL reward function).

    A group's answers share one question: each database is opened and each gold query run once per call.
    """
    from sqlora.db.sqlite import connect_readonly
    from sqlora.evaluation.execution import compare_results, run_query
    from sqlora.prompts.extraction import extract_sql

    connections: dict[str, object] = {}
    gold_results: dict[tuple[str, str], object] = {}
    rewards = []
    try:
        for completion, gold_sql, path in zip(completions, gold, db_path, strict=True):
            sql = extract_sql(completion if isinstance(completion, str) else completion[-1]["content"])
            if not sql:
                rewards.append(0.0)
                continue
            if path not in connections:
                connections[path] = connect_readonly(path)
            conn = connections[path]
            if (path, gold_sql) not in gold_results:
                gold_results[path, gold_sql] = run_query(conn, gold_sql, 2.0, 10_000)
            outcome = compare_results(gold_results[path, gold_sql], run_query(conn, sql, 2.0, 10_000), gold_sql)
            rewards.append(1.0 if outcome.ex else VALID_SQL_REWARD if outcome.pred_executed else 0.0)
    finally:
        for conn in connections.values():
            conn.close()
    return rewards


def reward_rows(config: TrainConfig, tokenizer) -> list[dict]:
    """Rows with a database to run on: ``prompt`` (the run's template), ``gold`` SQL and ``db_path``."""
    from sqlora.evaluation.runner import database_path
    from sqlora.prompts.templates import render_prompt
    from sqlora.training.data import load_rows

    held = set(config.holdout_dbs)
    examples: list[Example] = deduplicate(e for source in config.data_sources for e in load_rows(config, source))
    rows = []
    for example in examples:
        path = database_path(example, config.db_dir)
        if path is None or example.db_id in held:
            continue
        prompt = render_prompt(example.context, example.question, config.prompt_style, tokenizer)
        rows.append({"prompt": prompt, "gold": example.sql, "db_path": path})
    if config.max_examples and len(rows) > config.max_examples:
        rows = random.Random(config.seed).sample(rows, config.max_examples)
    return rows


def run_grpo(config: TrainConfig) -> dict:
    """GRPO per ``config``; writes the adapter, resolved config and summary.json to ``config.output``."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    from sqlora.models.loading import load_tokenizer
    from sqlora.training.arguments import engine_settings
    from sqlora.training.callbacks import RunLogCallback, TimeBudgetCallback, quiet_progress
    from sqlora.training.hardware import cpu_threads_for_training, resolve_precision
    from sqlora.training.memory import peak_memory_bytes
    from sqlora.training.model import build_model
    from sqlora.training.run import resume_checkpoint, write_run_files

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(config.threads or cpu_threads_for_training())
    set_seed(config.seed)
    tokenizer = load_tokenizer(config.model)
    tokenizer.padding_side = "left"
    rows = reward_rows(config, tokenizer)
    if not rows:
        raise ValueError(f"grpo needs rows with a database: none of {config.data} has a db_id found in --db-dir")
    precision = resolve_precision(config.mixed_precision, device)
    settings = engine_settings(config, precision, config.max_steps, device)
    args = GRPOConfig(
        **settings,
        num_generations=config.num_generations,
        max_completion_length=config.max_completion_length,
        temperature=config.temperature,
    )
    model = build_model(config, precision, device, args.local_process_index, bool(config.fsdp or config.deepspeed))
    log = RunLogCallback(Path(config.output))
    budget = TimeBudgetCallback(config.max_minutes) if config.max_minutes else None
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=execution_reward,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        callbacks=[log, budget] if budget else [log],
    )
    quiet_progress(trainer)
    write_run_files(trainer, config)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_checkpoint(config))
    elapsed = time.perf_counter() - started
    trainer.save_model(config.output)
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    summary = {
        "method": "grpo",
        "steps": trainer.state.global_step,
        "questions": len(rows),
        "elapsed_s": round(elapsed, 1),
        "peak_memory_bytes": peak_memory_bytes(device),
        "first_reward": rewards[0] if rewards else None,
        "final_reward": rewards[-1] if rewards else None,
        "stopped_by_time_budget": bool(budget and budget.stopped_at is not None),
        "history": [
            {k: h[k] for k in ("step", "loss", "grad_norm", "reward", "reward_std", "learning_rate") if k in h}
            for h in trainer.state.log_history
            if "reward" in h
        ],
        "processes": trainer.args.world_size,
        "quantized": config.quantize,
    }
    if trainer.is_world_process_zero():
        (Path(config.output) / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
