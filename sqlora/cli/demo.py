"""``sqlora demo``: the main job end to end on the embedded model, in under ten minutes on two CPU cores.

Fine-tune briefly with QLoRA to show the pipeline, then score the base model, that short fine-tune and the adapter
shipped with sqlora (the headline recipe) side by side on held-out databases, and answer a sample question with the
shipped adapter. With ``../shared/data`` beside the repository it runs offline on its local sql-create-context
file and Spider's real SQLite databases; without it, it loads ``b-mc2/sql-create-context`` from the hub and scores
on test-suite databases generated from each row's CREATE TABLE context.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import NamedTuple

import typer
from rich.panel import Panel

from sqlora.cli.app import app, console, fail
from sqlora.data.loaders import SQL_CREATE_CONTEXT_HUB_ID
from sqlora.data.record import Example

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
HOLDOUT_FRACTION = 0.05
"""Share of schemas held out when the rows do not name the held-out databases (the hub dataset has no db_id)."""
MAX_TRAIN_ROWS = 4000
"""Rows sampled for training from a split file: about the local file's size (tokenizing all 78k hub rows would
take longer than the short fine-tune itself)."""


def demo_data_source(shared: Path = SHARED) -> str:
    """The demo's training data: the shared local sql-create-context file if it exists, else the hub id."""
    local = shared / "sql-create-context" / "train.jsonl"
    return str(local) if local.is_file() else SQL_CREATE_CONTEXT_HUB_ID


def demo_db_dir(shared: Path = SHARED) -> Path | None:
    """Spider's real databases in the shared folder, or None (then EX is measured on generated test suites)."""
    folder = shared / "spider" / "database"
    return folder if folder.is_dir() else None


class HeldOut(NamedTuple):
    """The evaluation rows, the training rows' source and held-out db_ids, and how they were separated."""

    rows: list[Example]
    train_data: str
    holdout_dbs: list[str]
    how: str


def hold_out(examples: list[Example], source: str, output: Path) -> HeldOut:
    """Keep the demo's databases out of training: by db_id when the rows name them, else by schema.

    Rows without the held-out db_ids are split with :func:`sqlora.data.splits.split_by_group` (one database, or
    schema text without a db_id, lands on one side only); the training side is written to ``output/train.jsonl``.
    """
    from sqlora.data.splits import split_by_group

    if any(e.db_id in HOLDOUT_DBS for e in examples):
        rows = [e for e in examples if e.db_id in HOLDOUT_DBS]
        return HeldOut(rows, source, HOLDOUT_DBS, f"{len(HOLDOUT_DBS)} databases ({len(rows)} rows)")
    splits = split_by_group(examples, validation=0.0, test=HOLDOUT_FRACTION, seed=0)
    output.mkdir(parents=True, exist_ok=True)
    train_file = output / "train.jsonl"
    with train_file.open("w", encoding="utf-8") as handle:
        for e in splits.train:
            row = {"question": e.question, "context": e.context, "answer": e.sql, "db_id": e.db_id}
            handle.write(json.dumps(row) + "\n")
    how = (
        f"{HOLDOUT_FRACTION:.0%} of the schemas ({len(splits.test)} rows; no row names a held-out database, so"
        " split by db_id or, without one, by CREATE TABLE text, as sqlora.data.splits does)"
    )
    return HeldOut(splits.test, str(train_file), [], how)


@app.command()
def demo(
    data: str | None = typer.Option(
        None,
        help=f"Training rows: file or hub id (default: {SHARED}/sql-create-context/train.jsonl if it exists, "
        f"else {SQL_CREATE_CONTEXT_HUB_ID} from the hub).",
    ),
    db_dir: Path | None = typer.Option(  # noqa: B008
        None,
        help=f"<db_id>/<db_id>.sqlite folder (default: {SHARED}/spider/database if it exists); without one, EX is "
        "measured on test-suite databases generated from each row's CREATE TABLE context.",
    ),
    output: Path = typer.Option(Path("runs/demo"), help="Run directory."),  # noqa: B008
    steps: int = typer.Option(10, help="Optimizer steps of the short fine-tune (batch 4 x grad-accum 4 each)."),
    eval_rows: int = typer.Option(24, help="Held-out rows evaluated for each model."),
    model: str | None = typer.Option(None, help="Base model (hub id or folder); default: the embedded SmolLM2."),
) -> None:
    """Fine-tune briefly, compare base, short fine-tune and shipped adapter on unseen databases, answer a question."""
    from sqlora.data.loaders import load_examples
    from sqlora.evaluation.report import markdown_table, write_report
    from sqlora.evaluation.runner import evaluate, select_examples
    from sqlora.inference.generator import SQLGenerator
    from sqlora.models.embedded import embedded_model_dir
    from sqlora.models.shipped import answering_adapter
    from sqlora.training import TrainConfig, train

    source = data or demo_data_source()
    if db_dir is None:
        db_dir = demo_db_dir()
    elif not db_dir.is_dir():
        fail(f"--db-dir {db_dir}: no such folder")
    local = Path(source).exists()
    console.print(Panel(f"sqlora demo: QLoRA fine-tuning of {model or 'the embedded SmolLM2-135M-Instruct'}"))
    console.print(f"   data: {source} ({'local' if local else 'hub'})", soft_wrap=True)
    console.print(f"1/4 base model ready at {model or embedded_model_dir()}")

    examples = load_examples(source, db_dir=db_dir).examples
    held = hold_out(examples, source, output)
    if not held.rows:
        fail(f"{source}: no rows to hold out for evaluation ({held.how})")
    console.print(f"2/4 a short fine-tune ({steps} steps) to show the pipeline, held-out rows excluded")
    console.print(f"   held out: {held.how}", soft_wrap=True)
    config = TrainConfig(
        model=model,
        data=held.train_data,
        holdout_dbs=held.holdout_dbs,
        max_examples=None if held.holdout_dbs else MAX_TRAIN_ROWS,
        max_steps=steps,
        # every linear projection, as in bench/headline.yaml (validation EX 30 -> 47 % over q/k/v/o there)
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        learning_rate=4e-4,
        warmup_steps=min(3, steps),
        eval_steps=0,
        logging_steps=2,  # a few points even in a short run: the loss is seen falling
        save_steps=0,
        output=str(output / "adapter"),
    )
    summary = train(config)
    console.print(
        f"   loss {summary['first_loss']:.3f} -> {summary['final_loss']:.3f}, "
        f"{summary['tokens_per_s']:.0f} tokens/s, {summary['elapsed_s']:.0f} s"
    )

    rows = select_examples(held.rows, eval_rows, 0)
    shipped = answering_adapter(model, None)  # None unless the base is the embedded model it was trained on
    models = {"base": None, "tuned": config.output} | ({"shipped": shipped} if shipped else {})
    console.print(f"3/4 evaluating {', '.join(models)} on {len(rows)} rows of unseen databases")
    if shipped and not held.holdout_dbs:
        console.print(
            "   note: the shipped adapter was trained on sql-create-context rows (all but 8 held-out Spider"
            " databases); rows held out here by schema may include some it saw",
            soft_wrap=True,
        )
    reports = {}
    for label, adapter in models.items():
        generator = SQLGenerator(model=model, adapter=adapter)
        reports[label] = evaluate(rows, generator, db_dir, label=label).to_dict()
        del generator
        gc.collect()
    write_report(reports, output / "report")
    console.print(markdown_table(reports))
    console.print(f"   EX measured on: {scored_on(reports['base'].get('methods', {}))}", soft_wrap=True)
    console.print(f"   report: {output / 'report'}")
    console.print("   tuned: the short fine-tune above; shipped: the adapter sqlora ships (see its model card)")

    sample = rows[0]
    answerer = "shipped" if shipped else "tuned"
    console.print(f"4/4 a question for the {answerer} model")
    answer_question(models[answerer], sample.question, sample.context, sample.db_path)


def scored_on(methods: dict[str, int]) -> str:
    """How the rows were scored, in words: ``{"database": 3, "testsuite": 1}`` -> "real databases 3, ..."."""
    names = {"database": "real databases", "testsuite": "test suites generated from the CREATE TABLE context"}
    return ", ".join(f"{names.get(method, method)} ({count} rows)" for method, count in methods.items()) or "-"


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
