"""``sqlora adapt``: pairs from the database -> validation split -> mix with general rows -> train -> score.

Everything the database sees goes through ``Database.execute_readonly`` (read-only transaction, timeout,
row cap). The output folder is a trained adapter (usable by ``ask``/``serve``/``mcp --adapter``) plus
``data/`` (the generated pairs and the training mix) and ``adapt_report.json`` / ``adapt_report.md``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from sqlora.adapt.questions import load_questions
from sqlora.adapt.scoring import score
from sqlora.adapt.split import general_sample, split_pairs
from sqlora.constants import ADAPT_TRAIN_MINUTES
from sqlora.data.loaders import DataError, load_examples
from sqlora.data.record import Example
from sqlora.db import Database, DatabaseError
from sqlora.sql.dialects import TRAINING_DIALECT
from sqlora.synth import SynthError, database_examples, generate_pairs, write_jsonl

REPORT_JSON, REPORT_MD = "adapt_report.json", "adapt_report.md"


class AdaptError(ValueError):
    """Adaptation cannot run: unreachable or empty database, unreadable files, missing training feature."""


@dataclass
class AdaptOptions:
    """What to adapt to, where to write it, and how hard to train."""

    db: str
    output: str
    schema: str | None = None
    questions: str | None = None
    from_adapter: str | None = None
    model: str | None = None
    max_pairs: int = 3000
    paraphrase_model: str | None = None  # a chat model that rewords training questions (None: templates only)
    seed: int = 0
    validation: float = 0.15
    general_data: str | None = None
    general_ratio: float = 0.5  # general rows per generated training pair
    eval_limit: int = 100  # validation pairs scored (generation is the slow part on CPU)
    max_new_tokens: int = 160  # per generated answer when scoring
    train: dict = field(default_factory=dict)  # TrainConfig keys (max_steps, epochs, quantize, ...)
    evaluate: bool = True
    progress: bool = True


def _open(options: AdaptOptions) -> Database:
    try:
        db = Database(options.db, schema=options.schema)
        db.tables()  # reach the server and read the schema now, not halfway through
    except (DatabaseError, ValueError) as err:
        raise AdaptError(str(err)) from None
    return db


def _train_config(options: AdaptOptions, train_file: Path, valid_file: Path | None):
    from sqlora.training import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {"max_steps": 200, "max_minutes": ADAPT_TRAIN_MINUTES, "epochs": 1.0, "warmup_steps": 10}
    values.update(logging_steps=10, save_steps=100)
    values.update(options.train)
    values.update(data=str(train_file), output=options.output, seed=options.seed)
    values["eval_data"] = str(valid_file) if valid_file else None
    if options.model:
        values["model"] = options.model
    if options.from_adapter:
        values["init_adapter"] = options.from_adapter
        if not options.model:
            from sqlora.inference.generator import adapter_metadata

            base = adapter_metadata(options.from_adapter).get("base_model")
            values["model"] = None if base in (None, "embedded") else base
    unknown = set(values) - known
    if unknown:
        raise AdaptError(f"unknown training settings: {', '.join(sorted(unknown))}")
    return TrainConfig.from_dict(values)


def _general_pool(options: AdaptOptions) -> list:
    if not options.general_data or options.general_ratio <= 0:
        return []
    try:
        return load_examples(options.general_data).examples
    except Exception as err:  # a hub id offline, a missing file, a malformed file
        raise AdaptError(f"cannot read --general-data {options.general_data}: {err}") from None


def _generate(db: Database, options: AdaptOptions) -> list:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not options.progress, transient=True) as bar:
        task = bar.add_task("generating pairs", total=None)
        tick = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        try:
            pairs = generate_pairs(db, max_pairs=options.max_pairs, seed=options.seed, on_progress=tick)
        except SynthError as err:
            raise AdaptError(str(err)) from None
    if len(pairs) < 2:
        raise AdaptError(f"only {len(pairs)} pair(s) could be generated from {db.name}; too little to train on")
    return pairs


def in_training_dialect(rows: list[Example], dialect: str) -> list[Example]:
    """Rows whose SQL (in the database's ``dialect``) is rewritten in SQLite, the dialect models are trained on.

    ``ask``/``serve`` rewrite answers back for the database, so a model adapted on PostgreSQL or MariaDB keeps
    one SQL dialect; schema qualifiers go, as the schema context names tables without them. A row sqlglot cannot
    rewrite is left out.
    """
    if dialect == TRAINING_DIALECT:
        return rows
    out = []
    for row in rows:
        try:
            tree = sqlglot.parse_one(row.sql, read=dialect)
            for table in tree.find_all(exp.Table):
                table.set("db", None)
            sql = tree.sql(dialect=TRAINING_DIALECT, unsupported_level=ErrorLevel.RAISE)
            out.append(dataclasses.replace(row, sql=sql))
        except SqlglotError:
            continue
    return out


def _paraphrase(pairs: list, options: AdaptOptions) -> list:
    from sqlora.synth.paraphrase import paraphrase_pairs

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not options.progress, transient=True) as bar:
        task = bar.add_task("paraphrasing questions", total=len(pairs))
        tick = lambda done, total: bar.update(task, completed=done, total=total)  # noqa: E731
        try:
            return paraphrase_pairs(pairs, options.paraphrase_model, on_progress=tick)
        except OSError as err:  # a model that is neither a folder nor downloadable
            raise AdaptError(f"cannot load --paraphrase-model {options.paraphrase_model}: {err}") from None


def scoring_generator(model: str | None, adapter: str | None, max_new_tokens: int):
    """The generator adapt scores with: the base model (article prompt) or an adapter (its own prompt style)."""
    from sqlora.inference.generator import SQLGenerator

    style = None if adapter else "article"
    return SQLGenerator(model=model, adapter=adapter, prompt_style=style, max_new_tokens=max_new_tokens)


def run_adapt(options: AdaptOptions, say: Callable[[str], None] = print) -> dict:
    """Run the whole adaptation; returns the report (also written to the output folder)."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    out = Path(options.output)
    db = _open(options)
    try:
        questions = load_questions(options.questions, db) if options.questions else []
        data = out / "data"
        train_file, valid_file = data / "train.jsonl", data / "validation.jsonl"
        config = _train_config(options, train_file, valid_file)  # bad settings fail before any work
        pool = _general_pool(options)
        say(f"reading {db.name}: {len(db.tables())} tables")
        t0 = time.perf_counter()
        pairs = _generate(db, options)
        timings["generate_s"] = time.perf_counter() - t0
        train_pairs, valid_pairs = split_pairs(pairs, options.validation, options.seed)
        paraphrased = []
        if options.paraphrase_model:
            t0 = time.perf_counter()
            paraphrased = _paraphrase(train_pairs, options)
            timings["paraphrase_s"] = time.perf_counter() - t0
            say(f"{len(paraphrased)} of {len(train_pairs)} training questions reworded by {options.paraphrase_model}")
            train_pairs = train_pairs + paraphrased
        train_rows, valid_rows = database_examples(db, train_pairs), database_examples(db, valid_pairs)
        write_jsonl(train_rows + valid_rows, data / "pairs.jsonl")
        train_sqlite = in_training_dialect(train_rows, db.dialect)
        valid_sqlite = in_training_dialect(valid_rows, db.dialect)
        dropped = len(train_rows) + len(valid_rows) - len(train_sqlite) - len(valid_sqlite)
        if dropped:
            say(f"{dropped} pair(s) left out of training: their SQL has no SQLite equivalent")
        general = general_sample(pool, round(len(train_sqlite) * options.general_ratio), options.seed)
        write_jsonl(train_sqlite + general, train_file)
        write_jsonl(valid_sqlite, valid_file)
        if not valid_sqlite:
            config.eval_data = None
        counts = f"{len(train_sqlite)} train, {len(valid_sqlite)} validation"
        say(f"{len(pairs)} pairs ({counts}) + {len(general)} general rows")

        from sqlora.training import train

        t0 = time.perf_counter()
        try:
            summary = train(config)
        except ValueError as err:  # e.g. no pair fits max_length
            raise AdaptError(f"training failed: {err}") from None
        timings["train_s"] = time.perf_counter() - t0

        scores: dict[str, dict] = {}
        if options.evaluate:
            t0 = time.perf_counter()
            sets = {"validation": valid_rows[: options.eval_limit], "questions": questions}
            sets = {name: rows for name, rows in sets.items() if rows}
            for label, adapter in (("before", options.from_adapter), ("after", str(out))):
                generator = scoring_generator(config.model, adapter, options.max_new_tokens)
                for name, rows in sets.items():
                    scores.setdefault(name, {})[label] = score(
                        db, rows, generator, f"{label}: {name}", progress=options.progress
                    )
                del generator
            timings["evaluate_s"] = time.perf_counter() - t0
    except DataError as err:
        raise AdaptError(str(err)) from None
    finally:
        db.close()
    timings["total_s"] = time.perf_counter() - started
    report = {
        "database": db.name,
        "backend": db.backend,
        "adapter": str(out),
        "started_from": options.from_adapter or (config.model or "embedded"),
        "pairs": len(pairs),
        "families": dict(sorted(Counter(p.family for p in pairs).items())),
        "train_pairs": len(train_sqlite),
        "paraphrased_pairs": len(paraphrased),
        "validation_pairs": len(valid_sqlite),
        "general_rows": len(general),
        "questions": len(questions),
        "train": _train_summary(summary),
        "scores": scores,
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "options": {k: v for k, v in dataclasses.asdict(options).items() if k not in ("db", "progress")},
    }
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2, default=str))
    (out / REPORT_MD).write_text(markdown(report))
    return report


def _train_summary(summary: object) -> dict:
    keys = ("steps", "first_loss", "final_loss", "best_eval_loss", "elapsed_s", "stopped_by_time_budget")
    return {k: summary.get(k) for k in keys if k in summary} if isinstance(summary, dict) else {}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def markdown(report: dict) -> str:
    """The report as a short Markdown page."""
    lines = [
        f"# Adapter for `{report['database']}` ({report['backend']})",
        "",
        f"- adapter: `{report['adapter']}` (use with `sqlora ask --adapter {report['adapter']}`)",
        f"- started from: `{report['started_from']}`",
        f"- generated pairs: {report['pairs']} ({report['train_pairs']} train, {report['validation_pairs']} validation"
        f" held out by template and table) + {report['general_rows']} general rows",
        f"- families: {', '.join(f'{k} {v}' for k, v in report['families'].items())}",
        f"- time: {', '.join(f'{k} {v} s' for k, v in report['timings'].items())}",
        "",
        "| set | n | EX before | EX after |",
        "|---|---:|---:|---:|",
    ]
    for name, pair in report["scores"].items():
        n = pair.get("after", pair.get("before", {})).get("n_scored", 0)
        lines.append(
            f"| {name} | {n} | {_pct(pair.get('before', {}).get('ex'))} | {_pct(pair.get('after', {}).get('ex'))} |"
        )
    return "\n".join(lines) + "\n"
