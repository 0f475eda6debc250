"""``sqlora demo``: the main job end to end on the embedded model, offline, in a few minutes.

Fine-tune briefly with QLoRA, evaluate base vs fine-tuned on held-out real databases, print the
comparison and answer a sample question with the tuned model.
"""

from __future__ import annotations

import gc
from pathlib import Path

import typer
from rich.panel import Panel

from sqlora.cli.app import app, console, fail

# Databases never trained on by the demo or the headline run (chosen by hash of the name, not tuned).
HOLDOUT_DBS = [
    "flight_4",
    "student_assessment",
    "medicine_enzyme_interaction",
    "storm_record",
    "products_for_hire",
    "store_1",
    "hr_1",
    "music_2",
]
SHARED = Path("../shared/data")


@app.command()
def demo(
    data: Path = typer.Option(SHARED / "sql-create-context" / "train.jsonl", help="Training rows."),  # noqa: B008
    db_dir: Path = typer.Option(SHARED / "spider" / "database", help="<db_id>/<db_id>.sqlite folder."),  # noqa: B008
    output: Path = typer.Option(Path("runs/demo"), help="Run directory."),  # noqa: B008
    steps: int = typer.Option(40, help="Optimizer steps (batch 4 x grad-accum 4 each)."),
    eval_rows: int = typer.Option(24, help="Held-out rows evaluated for each model."),
    model: str | None = typer.Option(None, help="Base model (hub id or folder); default: the embedded SmolLM2."),
) -> None:
    """Fine-tune the embedded model briefly, compare base vs tuned on unseen databases, answer a question."""
    from sqlora.data.loaders import load_examples
    from sqlora.evaluation.report import markdown_table, write_report
    from sqlora.evaluation.runner import evaluate, select_examples
    from sqlora.inference.generator import SQLGenerator
    from sqlora.models.embedded import embedded_model_dir
    from sqlora.training import TrainConfig, train

    if not data.exists() or not db_dir.is_dir():
        fail(f"demo data not found ({data}, {db_dir}); run from the repository root next to ../shared/data")
    console.print(Panel(f"sqlora demo: QLoRA fine-tuning of {model or 'the embedded SmolLM2-135M-Instruct'}"))
    console.print(f"1/4 base model ready at {model or embedded_model_dir()}")

    console.print(f"2/4 fine-tuning for {steps} steps on {data} (held-out databases excluded)")
    config = TrainConfig(
        model=model,
        data=str(data),
        holdout_dbs=HOLDOUT_DBS,
        max_steps=steps,
        # every linear projection, as in bench/headline.yaml (validation EX 30 -> 47 % over q/k/v/o there)
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        learning_rate=4e-4,
        warmup_steps=min(10, steps),
        eval_steps=0,
        save_steps=0,
        output=str(output / "adapter"),
    )
    summary = train(config)
    console.print(
        f"   loss {summary['first_loss']:.3f} -> {summary['final_loss']:.3f}, "
        f"{summary['tokens_per_s']:.0f} tokens/s, {summary['elapsed_s']:.0f} s"
    )

    held_out = load_examples(data, db_dir=db_dir).examples
    rows = select_examples(held_out, eval_rows, 0, HOLDOUT_DBS)
    console.print(f"3/4 evaluating base vs fine-tuned on {len(rows)} rows of unseen databases (real SQLite)")
    reports = {}
    for label, adapter in (("base", None), ("tuned", config.output)):
        generator = SQLGenerator(model=model, adapter=adapter)
        reports[label] = evaluate(rows, generator, db_dir, label=label).to_dict()
        del generator
        gc.collect()
    write_report(reports, output / "report")
    console.print(markdown_table(reports))
    console.print(f"   report: {output / 'report'}")

    sample = rows[0]
    console.print("4/4 a question for the fine-tuned model")
    answer_question(config.output, sample.question, sample.context, sample.db_path)


def answer_question(adapter: str, question: str, schema: str, db_path: str | None) -> None:
    """Generate, validate, explain and (read-only) execute one answer."""
    from sqlora.db.connect import Database
    from sqlora.inference.generator import SQLGenerator
    from sqlora.sql.explain import explain_sql

    result = SQLGenerator.shared(adapter=adapter).generate(question, schema)
    console.print(f"   question: {question}")
    console.print(
        f"   SQL:      [bold]{result.sql}[/] ({'valid' if result.valid else 'invalid: ' + '; '.join(result.errors)})"
    )
    if result.valid:
        console.print(f"   meaning:  {explain_sql(result.sql)}")
    if result.valid and db_path:
        rows = Database(f"sqlite:///{db_path}").execute_readonly(result.sql, timeout_s=5, max_rows=5)
        console.print(f"   rows:     {rows.rows}")
