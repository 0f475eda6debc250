"""``sqlora eval``: execution accuracy, exact match, validity, hardness and latency of a model on a dataset."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import typer

from sqlora.cli.app import (
    app,
    check_constrained,
    check_precision,
    console,
    constrained_option,
    fail,
    precision_option,
)
from sqlora.cli.checks import check_adapter, check_model, check_prompt_style
from sqlora.constants import DEFAULT_MAX_NEW_TOKENS


def _generator(model: str | None, adapter: str | None, prompt_style: str | None, options: dict):
    from sqlora.inference.generator import SQLGenerator

    return SQLGenerator(model=model, adapter=adapter, prompt_style=prompt_style, **options)


@app.command("eval")
def evaluate_command(
    data: str = typer.Option(..., "--data", help="Anything `sqlora data stats` reads: a Spider folder, a .jsonl ..."),
    db_dir: str | None = typer.Option(None, "--db-dir", help="Folder of <db_id>/<db_id>.sqlite databases."),
    spider_schema: str = typer.Option(
        "full",
        "--spider-schema",
        help="Spider folders: each question's context is its database's 'full' schema, or only the tables the"
        " 'question' is about (schema linking by its words and the foreign keys), or 'gold' (the tables and"
        " columns the gold query uses: leaks part of the answer, for reference only).",
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Base model (default: embedded SmolLM2)."),
    adapter: str | None = typer.Option(None, "--adapter", "-a", help="A trained LoRA adapter directory."),
    compare: bool = typer.Option(False, "--compare", help="Evaluate the base model and model+adapter."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate the first N rows (after --seed)."),
    seed: int | None = typer.Option(None, "--seed", help="Shuffle rows with this seed before --limit."),
    holdout_dbs: str | None = typer.Option(None, "--holdout-dbs", help="Only rows of these db_ids (a,b,c)."),
    json_out: str | None = typer.Option(None, "--json", help="Write the JSON report to this file."),
    report_dir: str | None = typer.Option(None, "--report-dir", help="Write report.json/.md and plots here."),
    prompt_style: str | None = typer.Option(None, "--prompt-style", help="article or chat (default: adapter's)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Questions per generation batch."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds allowed per query execution."),
    testsuite_k: int = typer.Option(5, "--testsuite-k", min=1, help="Generated databases for rows without one."),
    max_new_tokens: int = typer.Option(DEFAULT_MAX_NEW_TOKENS, "--max-new-tokens", min=1, help="Tokens per answer."),
    candidates: int = typer.Option(
        1,
        "--candidates",
        min=1,
        help="For answers that are invalid, or fail or return no rows on the row's database, beam-search this many"
        " and keep the first that passes (execution-guided selection).",
    ),
    repair: bool = typer.Option(
        True, "--repair/--no-repair", help="Rename table/column names the schema lacks to its closest names."
    ),
    precision: str | None = precision_option(),
    constrained: bool = constrained_option(),
) -> None:
    """Score a model on a dataset: EX on real databases (or generated test suites), EM, valid SQL, latency."""
    from sqlora.data.loaders import DataError, load_examples
    from sqlora.evaluation.report import build_document, markdown_table, write_report
    from sqlora.evaluation.runner import evaluate, select_examples
    from sqlora.inference.generator import adapter_metadata

    check_prompt_style(prompt_style)
    check_precision(precision)
    check_constrained(constrained)
    check_adapter(adapter)
    check_model(model)
    if timeout <= 0:
        fail(f"--timeout must be positive, got {timeout}")
    if compare and not adapter:
        fail("--compare needs --adapter (it evaluates the base model and the model with the adapter)")
    try:
        loaded = load_examples(data, db_dir=db_dir, spider_schema=spider_schema)
    except DataError as err:
        fail(str(err))
    holdout = holdout_dbs.split(",") if holdout_dbs else None
    examples = select_examples(loaded.examples, limit, seed, holdout)
    if not examples:
        fail("no rows to evaluate (check --data and --holdout-dbs)")
    console.print(f"evaluating {len(examples)} rows ({len(loaded.errors)} malformed rows skipped)")

    meta = adapter_metadata(adapter)
    style = prompt_style or meta.get("prompt_style")
    runs = (
        [("base", model or meta.get("base_model"), None), ("tuned", model, adapter)]
        if compare
        else [("tuned" if adapter else "base", model, adapter)]
    )
    reports: dict[str, dict] = {}
    for label, run_model, run_adapter in runs:
        options = {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "candidates": candidates}
        options.update(repair=repair, precision=precision, constrained=constrained)
        generator = _generator(run_model, run_adapter, style, options)
        info = {"model": generator.model_name or "embedded", "adapter": run_adapter, "data": data}
        info["spider_schema"] = spider_schema
        info.update(prompt_style=generator.prompt_style, candidates=candidates, repair=repair)
        info["constrained"] = constrained
        info["precision"] = generator.precision
        report = evaluate(
            examples, generator, db_dir, batch_size, timeout, testsuite_k, seed or 0, label=label, meta=info
        )
        reports[label] = report.to_dict()
        del generator
        gc.collect()

    document = build_document(reports)
    if json_out:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(document, indent=2))
        console.print(f"wrote {json_out}")
    if report_dir:
        for path in write_report(reports, report_dir):
            console.print(f"wrote {path}")
    table = markdown_table(reports)
    if json_out or report_dir:
        typer.echo(table, err=True)
    else:
        typer.echo(table)
