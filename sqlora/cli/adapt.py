"""``sqlora adapt``: fine-tune on one database from its schema and data alone, and report the gain."""

from __future__ import annotations

from pathlib import Path

import typer

from sqlora.cli.app import app, console, fail
from sqlora.cli.checks import answering_adapter, check_model
from sqlora.constants import ADAPT_TRAIN_MINUTES

DB_HELP = "SQLAlchemy URL (sqlite:///f.sqlite, postgresql+psycopg://..., mysql+pymysql://..., duckdb:///f.duckdb)"


@app.command("adapt")
def adapt_command(
    db: str = typer.Option(..., "--db", help=DB_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the adapter, data and report."),  # noqa: B008
    questions: Path | None = typer.Option(None, "--questions", help="Your questions with gold SQL (JSONL/CSV)."),  # noqa: B008
    from_adapter: str | None = typer.Option(
        None, "--from", help="Start from this adapter's weights (default on the embedded model: the shipped adapter)."
    ),
    base: bool = typer.Option(False, "--base", help="Start from fresh LoRA weights on the raw base model."),
    max_pairs: int = typer.Option(3000, "--max-pairs", help="Most generated pairs."),
    paraphrase_model: str | None = typer.Option(
        None,
        "--paraphrase-model",
        help="A chat model (hub id, folder or 'embedded') that rewords the training questions; a rewording is"
        " added when it keeps every value of the question.",
    ),
    schema: str | None = typer.Option(None, "--schema", help="Schema / namespace (PostgreSQL, DuckDB)."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Base model (default: the --from adapter's, else embedded)."
    ),
    general_data: str | None = typer.Option(
        None, "--general-data", help="General rows to mix in (sql-create-context file or hub id)."
    ),
    general_ratio: float = typer.Option(0.5, "--general-ratio", help="General rows per generated training pair."),
    max_steps: int = typer.Option(200, "--max-steps", help="Most training steps."),
    train_minutes: float = typer.Option(
        ADAPT_TRAIN_MINUTES,
        "--train-minutes",
        help="Most minutes of training (pair generation and scoring come on top).",
    ),
    config: Path | None = typer.Option(None, "--config", help="YAML of training settings (TrainConfig keys)."),  # noqa: B008
    quantize: bool = typer.Option(True, "--quantize/--no-quantize", help="QLoRA (4-bit base) or plain LoRA."),
    resume: bool = typer.Option(False, "--resume", help="Resume training from the last checkpoint in --output."),
    eval_limit: int = typer.Option(100, "--eval-limit", help="Validation pairs scored before and after."),
    max_new_tokens: int = typer.Option(160, "--max-new-tokens", help="Longest generated answer when scoring."),
    seed: int = typer.Option(0, "--seed", help="Seed for pairs, split and training."),
) -> None:
    """Generate pairs from --db, train an adapter on them (plus general rows), score before vs after."""
    import yaml

    from sqlora.adapt import AdaptError, AdaptOptions, run_adapt

    if from_adapter is not None and base:
        fail("give either --from ADAPTER or --base (fresh weights on the raw base model), not both")
    start = answering_adapter(model, from_adapter, base)
    if paraphrase_model is not None:
        check_model(paraphrase_model)
    if max_steps < 1:
        fail(f"--max-steps must be at least 1, got {max_steps}")
    if train_minutes <= 0:
        fail(f"--train-minutes must be positive, got {train_minutes}")
    train = {}
    if config:
        try:
            train = yaml.safe_load(config.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            fail(f"cannot read --config {config}: {err}")
    train.update(max_steps=max_steps, max_minutes=train_minutes, quantize=quantize, resume=resume)
    options = AdaptOptions(
        db=db,
        output=str(output),
        schema=schema,
        questions=str(questions) if questions else None,
        from_adapter=start,
        model=model,
        max_pairs=max_pairs,
        paraphrase_model=paraphrase_model,
        seed=seed,
        general_data=general_data,
        general_ratio=general_ratio,
        eval_limit=eval_limit,
        max_new_tokens=max_new_tokens,
        train=train,
    )
    try:
        report = run_adapt(options, say=lambda text: console.print(text))
    except AdaptError as err:
        fail(str(err))
    for name, pair in report["scores"].items():
        before, after = pair.get("before", {}).get("ex"), pair.get("after", {}).get("ex")
        show = lambda v: "n/a" if v is None else f"{100 * v:.1f} %"  # noqa: E731
        console.print(f"{name}: EX {show(before)} -> {show(after)} ({pair['after']['n_scored']} questions)")
    console.print(f"adapter: {output} (sqlora ask --adapter {output}); report: {output / 'adapt_report.md'}")
