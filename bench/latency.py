"""Where the article's "3x faster inference" comes from: base vs tuned latency with and without stop rules.

    python bench/latency.py --adapter runs/headline

The article compares a base model that rambles until its end-of-sequence token (or the token budget) with a
fine-tuned one that learned to stop after the query. sqlora's generator stops every model at the end of the
first statement (``;``, a blank line, a closing code fence) and when a row starts to loop, which also makes the
base model fast. This measures both models both ways on the headline's held-out sql-create-context rows (same
selection as `bench/headline.sh`: the demo's 8 held-out databases, seed 0, first 100 rows), greedy, name repair on,
batch 8, EX on the real Spider databases. "EOS only" turns off the stop strings and the runaway stop and
nothing else. Writes bench/results/latency.json (or --output) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

from eval_summary import summarize

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "latency.json"


@contextmanager
def eos_only():
    """Generation runs until EOS or the token budget: no stop strings, no runaway stop."""
    from transformers import StoppingCriteriaList

    import sqlora.inference.generator as generator_module

    saved = generator_module.STOP_STRINGS, generator_module.StoppingCriteriaList
    generator_module.STOP_STRINGS = None
    generator_module.StoppingCriteriaList = lambda _criteria: StoppingCriteriaList([])
    try:
        yield
    finally:
        generator_module.STOP_STRINGS, generator_module.StoppingCriteriaList = saved


def measure(generator, rows: list, stop_rules: bool) -> dict:
    from contextlib import nullcontext

    from sqlora.evaluation.runner import evaluate

    started = time.perf_counter()
    with nullcontext() if stop_rules else eos_only():
        report = evaluate(rows, generator, SHARED / "spider" / "database", progress=False)
    return summarize(report.aggregates, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from sqlora.cli.demo import HOLDOUT_DBS
    from sqlora.data.loaders import load_examples
    from sqlora.evaluation.runner import select_examples
    from sqlora.inference.generator import SQLGenerator

    sqlcc = load_examples(SHARED / "sql-create-context" / "train.jsonl", db_dir=SHARED / "spider" / "database")
    rows = select_examples(sqlcc.examples, args.rows, 0, HOLDOUT_DBS)
    models = {
        "base": lambda: SQLGenerator(prompt_style="article"),
        "tuned": lambda: SQLGenerator(adapter=str(args.adapter)),
    }
    print(f"{'model':<6} {'stopping':<22} {'EX':>6} {'valid':>6} {'latency s':>10} {'tokens':>7}", flush=True)
    results: dict[str, dict] = {}
    for label, build in models.items():
        generator = build()
        for stop_rules, mode in ((True, "sqlora stop rules"), (False, "EOS only")):
            r = results[f"{label}, {mode}"] = measure(generator, rows, stop_rules)
            print(
                f"{label:<6} {mode:<22} {r['ex']:>6.1%} {r['valid_rate']:>6.1%} {r['latency_s_mean']:>10.2f}"
                f" {r['mean_generated_tokens']:>7.1f}",
                flush=True,
            )
        del generator
    ratios = {
        mode: results[f"base, {mode}"]["latency_s_mean"] / results[f"tuned, {mode}"]["latency_s_mean"]
        for mode in ("sqlora stop rules", "EOS only")
    }
    for name, ratio in ratios.items():
        print(f"base / tuned latency, {name}: {ratio:.2f}x")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {"adapter": str(args.adapter), "rows": len(rows), "variants": results, "base_over_tuned": ratios}
    args.output.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
