"""Does execution-reward RL pay? GRPO from a supervised adapter, scored before and after on the same rows.

    python bench/grpo.py --adapter runs/headline --minutes 30 --rows 80
    python bench/grpo.py --adapter runs/headline --minutes 30 --holdout   # a final recipe, once

GRPO (`sqlora train --method grpo`) continues the adapter's LoRA weights on sql-create-context rows whose Spider
database is at hand, leaving out the held-out test databases (sqlora.cli.demo.HOLDOUT_DBS) and the adapter's own
validation databases. Both adapters are then scored the way `sqlora eval` scores by default (greedy + name
repair, the adapter on its 4-bit base) by EX on the real Spider databases: on rows of the adapter's validation
databases, and with ``--holdout`` also on the headline's 100 held-out rows. Writes bench/results/grpo.json (date,
commit, machine, settings, reward per logged step) and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from adapt_holdout import commit
from eval_summary import summarize
from validation_rows import SHARED, validation_dbs, validation_rows

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "grpo.json"


def grpo_config(adapter: Path, args: argparse.Namespace):
    """The adapter's own recipe (model, LoRA shape, prompt) turned into a GRPO run that starts from it."""
    from sqlora.cli.demo import HOLDOUT_DBS
    from sqlora.training.config import TrainConfig

    base = TrainConfig.from_yaml(adapter / "train_config.yaml")
    return dataclasses.replace(
        base,
        method="grpo",
        init_adapter=str(adapter),
        data=str(SHARED / "sql-create-context" / "train.jsonl"),
        eval_data=None,
        db_dir=str(SHARED / "spider" / "database"),
        holdout_dbs=sorted(set(HOLDOUT_DBS) | set(validation_dbs(adapter))),
        learning_rate=args.lr,
        warmup_steps=0,
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        temperature=args.temperature,
        max_steps=10_000,  # the time budget ends the run
        max_minutes=args.minutes,
        eval_steps=0,
        save_steps=0,
        logging_steps=1,
        report_to=["none"],
        output=str(args.output_run),
        resume=False,
    )


def score(adapter: Path, sets: dict[str, list]) -> dict[str, dict]:
    """EX, validity and latency of ``adapter`` on each set of rows with sqlora's default decoding (one model load)."""
    from sqlora.evaluation.runner import evaluate
    from sqlora.inference.generator import SQLGenerator

    generator = SQLGenerator(adapter=str(adapter))
    scores = {}
    for name, rows in sets.items():
        started = time.perf_counter()
        report = evaluate(rows, generator, SHARED / "spider" / "database", progress=False)
        scores[name] = summarize(report.aggregates, started)
    return scores


def holdout_rows(rows: int) -> list:
    """The headline's held-out rows: sql-create-context questions of HOLDOUT_DBS, first after a seed-0 shuffle."""
    from sqlora.cli.demo import HOLDOUT_DBS
    from sqlora.data.loaders import load_examples
    from sqlora.evaluation.runner import select_examples

    sqlcc = load_examples(SHARED / "sql-create-context" / "train.jsonl", db_dir=SHARED / "spider" / "database")
    return select_examples(sqlcc.examples, rows, 0, HOLDOUT_DBS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, required=True, help="the supervised adapter GRPO starts from")
    parser.add_argument("--minutes", type=float, default=30.0, help="GRPO training time")
    parser.add_argument("--rows", type=int, default=80, help="validation rows scored before and after")
    parser.add_argument("--holdout", action="store_true", help="also score the 100 held-out rows (final recipe)")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--num-generations", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=96)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--output-run", type=Path, default=ROOT / "runs" / "grpo_bench")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not (args.adapter / "train_config.yaml").is_file():
        parser.error(f"{args.adapter} is not a training run: it has no train_config.yaml")

    from sqlora.training import train
    from sqlora.training.hardware import machine_facts

    config = grpo_config(args.adapter, args)
    sets = {"validation": validation_rows(args.adapter, args.rows)}
    if args.holdout:
        sets["held-out"] = holdout_rows(100)
    before = score(args.adapter, sets)
    summary = train(config)
    after = score(args.output_run, sets)

    print(f"{'rows':<12} {'n':>4} {'EX before':>10} {'EX after':>9} {'valid before':>13} {'valid after':>12}")
    for name in sets:
        b, a = before[name], after[name]
        ex, valid = f"{b['ex']:>10.1%} {a['ex']:>9.1%}", f"{b['valid_rate']:>13.1%} {a['valid_rate']:>12.1%}"
        print(f"{name:<12} {b['n']:>4} {ex} {valid}")
    print(
        f"GRPO: {summary['steps']} steps in {summary['elapsed_s'] / 60:.1f} min on {summary['questions']} questions,"
        f" mean group reward {summary['first_reward']:.2f} -> {summary['final_reward']:.2f}"
    )
    entry = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "commit": commit(),
        "machine": machine_facts(),
        "adapter": str(args.adapter),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "grpo": summary,
        "before": before,
        "after": after,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(entry, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
