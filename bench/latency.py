"""Where the article's "3x faster inference" comes from: base vs tuned latency, by stopping rule and precision.

    python bench/latency.py --adapter runs/headline

The article compares a base model that rambles until its end-of-sequence token (or the token budget) with a
fine-tuned one that learned to stop after the query. sqlora's generator stops every model at the end of the
first statement (``;``, a blank line, a closing code fence) and when a row starts to loop, which also makes the
base model fast. This measures both models both ways on the headline's held-out sql-create-context rows (same
selection as `bench/headline.sh`: the demo's 8 held-out databases, seed 0, first 100 rows), greedy, name repair on,
EX on the real Spider databases. "EOS only" is the generator's ``stop="eos"`` setting: no stop strings, no runaway
stop, nothing else changed.

Precision: by default the tuned model decodes on its 4-bit base (``nf4``) and the base model in fp32; the same
comparison is also made with both models in fp32 and both in bf16 (the QLoRA adapter folded into its dequantized
NF4 weights), and one question at a time (batch 1: the latency a single user sees; batch 8 is what the
evaluations use, latency = batch time / 8). Writes bench/results/latency.json (or --output) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from eval_summary import summarize

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "latency.json"


def measure(generator, rows: list, stop_rules: bool, batch_size: int) -> dict:
    from sqlora.evaluation.runner import evaluate

    generator.stop = "sqlora" if stop_rules else "eos"
    started = time.perf_counter()
    report = evaluate(rows, generator, SHARED / "spider" / "database", batch_size, progress=False)
    return summarize(report.aggregates, started)


# name: (model, precision, sqlora stop rules, batch size); grouped by (model, precision) so each loads once
VARIANTS = {
    "base fp32, stop rules, batch 8": ("base", "fp32", True, 8),
    "base fp32, EOS only, batch 8": ("base", "fp32", False, 8),
    "base fp32, EOS only, batch 1": ("base", "fp32", False, 1),
    "base bf16, EOS only, batch 8": ("base", "bf16", False, 8),
    "tuned nf4, stop rules, batch 8": ("tuned", "nf4", True, 8),
    "tuned nf4, EOS only, batch 8": ("tuned", "nf4", False, 8),
    "tuned fp32, EOS only, batch 8": ("tuned", "fp32", False, 8),
    "tuned fp32, EOS only, batch 1": ("tuned", "fp32", False, 1),
    "tuned bf16, EOS only, batch 8": ("tuned", "bf16", False, 8),
}
# comparison: (base variant, tuned variant)
RATIOS = {
    "sqlora defaults (base fp32, tuned nf4), stop rules": (
        "base fp32, stop rules, batch 8",
        "tuned nf4, stop rules, batch 8",
    ),
    "sqlora defaults (base fp32, tuned nf4), EOS only": (
        "base fp32, EOS only, batch 8",
        "tuned nf4, EOS only, batch 8",
    ),
    "both fp32, EOS only, batch 8": ("base fp32, EOS only, batch 8", "tuned fp32, EOS only, batch 8"),
    "both fp32, EOS only, batch 1": ("base fp32, EOS only, batch 1", "tuned fp32, EOS only, batch 1"),
    "both bf16, EOS only, batch 8": ("base bf16, EOS only, batch 8", "tuned bf16, EOS only, batch 8"),
}


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
    build = {
        "base": lambda precision: SQLGenerator(prompt_style="article", precision=precision),
        "tuned": lambda precision: SQLGenerator(adapter=str(args.adapter), precision=precision),
    }
    print(f"{'variant':<32} {'EX':>6} {'valid':>6} {'latency s':>10} {'tokens':>7}", flush=True)
    results: dict[str, dict] = {}
    loaded, generator = None, None
    for name, (model, precision, stop_rules, batch_size) in VARIANTS.items():
        if loaded != (model, precision):
            del generator
            generator, loaded = build[model](precision), (model, precision)
        r = results[name] = measure(generator, rows, stop_rules, batch_size)
        print(
            f"{name:<32} {r['ex']:>6.1%} {r['valid_rate']:>6.1%} {r['latency_s_mean']:>10.2f}"
            f" {r['mean_generated_tokens']:>7.1f}",
            flush=True,
        )
    ratios = {
        label: results[base]["latency_s_mean"] / results[tuned]["latency_s_mean"]
        for label, (base, tuned) in RATIOS.items()
    }
    for label, ratio in ratios.items():
        print(f"base / tuned latency, {label}: {ratio:.2f}x")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {"adapter": str(args.adapter), "rows": len(rows), "variants": results, "base_over_tuned": ratios}
    args.output.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
