"""``sqlora train`` and ``sqlora merge``: QLoRA fine-tuning and adapter merging."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sqlora.cli.app import app, console, fail


@app.command()
def train(
    data: list[str] | None = typer.Option(  # noqa: B008
        None, "--data", "-d", help="Training data: file, Spider folder or hub id (repeat to combine sources)."
    ),
    spider_schema: str | None = typer.Option(
        None,
        help="Spider folders: 'full' database schemas, 'gold' (pruned to the gold query's tables/columns) or"
        " 'question' (pruned to the tables the question names).",
    ),
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML config; flags override it."),  # noqa: B008
    output: str | None = typer.Option(None, "--output", "-o", help="Run directory (adapter, logs, checkpoints)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Base model (default: embedded SmolLM2)."),
    max_steps: int | None = typer.Option(None, help="Stop after this many optimizer steps."),
    epochs: float | None = typer.Option(None),
    batch_size: int | None = typer.Option(None, help="Per-device batch size (article: 4)."),
    grad_accum: int | None = typer.Option(None, help="Gradient accumulation steps (article: 4)."),
    learning_rate: float | None = typer.Option(None, "--lr"),
    warmup_steps: int | None = typer.Option(None),
    lora_r: int | None = typer.Option(None),
    lora_alpha: int | None = typer.Option(None),
    lora_dropout: float | None = typer.Option(None),
    max_examples: int | None = typer.Option(None, help="Train on at most this many rows."),
    prompt_style: str | None = typer.Option(None, help="article or chat."),
    holdout_dbs: str | None = typer.Option(None, help="Comma-separated db_ids kept out of training."),
    db_dir: str | None = typer.Option(None, help="Folder of <db_id>/<db_id>.sqlite databases."),
    no_quantize: bool = typer.Option(False, "--no-quantize", help="Plain LoRA on full-precision weights."),
    mixed_precision: str | None = typer.Option(None, help="auto, no, fp16 or bf16."),
    gradient_checkpointing: str | None = typer.Option(None, help="auto, on or off."),
    save_steps: int | None = typer.Option(None),
    eval_steps: int | None = typer.Option(None),
    logging_steps: int | None = typer.Option(None),
    early_stopping_patience: int | None = typer.Option(None),
    eval_data: str | None = typer.Option(None, help="Validation data (default: 5% of the databases of --data)."),
    eval_ex_samples: int | None = typer.Option(None, help="Validation rows scored by execution accuracy at evals."),
    seed: int | None = typer.Option(None),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest checkpoint in --output."),
) -> None:
    """Fine-tune a base model with QLoRA (the article's recipe by default)."""
    from sqlora.training import TrainConfig
    from sqlora.training import train as run

    overrides = {
        "data": (data[0] if len(data) == 1 else data) if data else None,
        "spider_schema": spider_schema,
        "output": output,
        "model": model,
        "max_steps": max_steps,
        "epochs": epochs,
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "learning_rate": learning_rate,
        "warmup_steps": warmup_steps,
        "lora_r": lora_r,
        "lora_alpha": lora_alpha,
        "lora_dropout": lora_dropout,
        "max_examples": max_examples,
        "prompt_style": prompt_style,
        "holdout_dbs": holdout_dbs.split(",") if holdout_dbs else None,
        "db_dir": db_dir,
        "quantize": False if no_quantize else None,
        "mixed_precision": mixed_precision,
        "gradient_checkpointing": gradient_checkpointing,
        "save_steps": save_steps,
        "eval_steps": eval_steps,
        "logging_steps": logging_steps,
        "early_stopping_patience": early_stopping_patience,
        "eval_data": eval_data,
        "eval_ex_samples": eval_ex_samples,
        "seed": seed,
        "resume": resume or None,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        cfg = TrainConfig.from_yaml(config, **overrides) if config else TrainConfig.from_dict(overrides)
    except (OSError, ValueError, TypeError) as err:
        fail(f"bad configuration: {err}")
    if not cfg.data:
        fail("give training data with --data (a .jsonl file, a Spider folder or a hub id)")
    summary = run(cfg)
    shown = {k: v for k, v in summary.items() if k != "history"}
    console.print_json(json.dumps(shown))
    console.print(f"adapter written to [bold]{cfg.output}[/]")


@app.command()
def merge(
    adapter: str = typer.Argument(..., help="Adapter directory written by sqlora train."),
    output: str = typer.Option(..., "--output", "-o", help="Where to write the merged model."),
    base_model: str | None = typer.Option(None, "--model", "-m", help="Base model (default: from the adapter)."),
) -> None:
    """Fold a LoRA adapter into its base model (safetensors; loads with plain transformers)."""
    from sqlora.training.merge import merge_adapter

    if not (Path(adapter) / "adapter_config.json").exists():
        fail(f"{adapter} is not an adapter directory (no adapter_config.json)")
    path = merge_adapter(adapter, output, base_model)
    console.print(f"merged model written to [bold]{path}[/]")
