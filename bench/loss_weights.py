"""Does the article's SQL-weighted loss help? Same run twice, uniform vs SQL-token weights, then EX on held-out DBs.

    python bench/loss_weights.py --steps 60 --eval-rows 60

Each arm trains in its own process with one thread (the two run side by side on a 2-core machine),
then both adapters are scored on the same rows of the runs' validation databases (split off by `sqlora
train`, never trained on, and not the headline's held-out test databases); writes
bench/results/loss_weights.json (or --output) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from validation_rows import validation_rows

from sqlora.training.config import SQL_TOKEN_WEIGHTS

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "loss_weights.json"
ARMS = {
    "uniform": {},
    "sql_weighted": SQL_TOKEN_WEIGHTS,
}


def train_arm(name: str, steps: int, output: Path) -> dict:
    from sqlora.cli.demo import HOLDOUT_DBS
    from sqlora.training import TrainConfig, train
    from sqlora.training.config import TokenWeights

    config = TrainConfig(
        data=str(SHARED / "sql-create-context" / "train.jsonl"),
        holdout_dbs=HOLDOUT_DBS,
        max_steps=steps,
        learning_rate=4e-4,
        warmup_steps=min(10, steps),
        eval_steps=0,
        save_steps=0,
        threads=1,
        token_weights=TokenWeights(**ARMS[name]),
        output=str(output / name),
    )
    summary = train(config)
    return {k: summary[k] for k in ("steps", "tokens_per_s", "first_loss", "final_loss", "elapsed_s")}


def evaluate_arm(adapter: Path, rows: int) -> dict:
    """Greedy answers (no name repair: the loss alone) on rows of the run's validation databases."""
    from sqlora.evaluation.runner import evaluate
    from sqlora.inference.generator import SQLGenerator

    chosen = validation_rows(adapter, rows)
    generator = SQLGenerator(adapter=str(adapter), repair=False)
    report = evaluate(chosen, generator, SHARED / "spider" / "database", progress=False)
    agg = report.aggregates
    return {"n": agg["n"], "ex": agg["ex"], "em": agg["em"], "valid_rate": agg["valid_rate"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arm", choices=list(ARMS))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--eval-rows", type=int, default=60)
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "loss_weights")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.arm:
        import torch

        torch.set_num_threads(1)
        result = train_arm(args.arm, args.steps, args.workdir)
        result.update(evaluate_arm(args.workdir / args.arm, args.eval_rows))
        print(json.dumps(result))
        return

    procs = {
        arm: subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--arm",
                arm,
                "--steps",
                str(args.steps),
                "--eval-rows",
                str(args.eval_rows),
                "--workdir",
                str(args.workdir),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        for arm in ARMS
    }
    results = {}
    for arm, proc in procs.items():
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"arm {arm} failed")
        results[arm] = {**json.loads(out.strip().splitlines()[-1]), "weights": ARMS[arm] or "all 1.0"}

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"SQL-weighted loss vs uniform, {args.steps} steps, EX on validation databases")
    for column in ("arm", "final loss", "EX %", "EM %", "valid %", "n"):
        table.add_column(column)
    for arm, r in results.items():
        table.add_row(
            arm,
            f"{r['final_loss']:.3f}",
            f"{100 * r['ex']:.1f}",
            f"{100 * r['em']:.1f}",
            f"{100 * r['valid_rate']:.1f}",
            str(r["n"]),
        )
    Console().print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"steps": args.steps, "eval_rows": args.eval_rows, "results": results}, indent=2))


if __name__ == "__main__":
    main()
