"""Which decoding settings pay? EX, validity and latency of one adapter under several decoding variants.

    python bench/decoding.py --adapter runs/headline --rows 80

Rows come from the adapter's own validation databases (split off by `sqlora train`, never trained
on, and not the headline's held-out test databases), in sql-create-context format, scored by EX on
the real Spider databases. Variants: greedy only; + the first valid of 4 beam-search candidates (both with the
adapter merged into the original full-precision weights); greedy on the 4-bit base the adapter was trained on;
+ name repair (wrong table/column names renamed to the schema's closest, no model call); on the 4-bit base, the
first of 4 beams that compiles against the schema, or that also runs without error and returns rows on the real
database (execution-guided), without and with name repair, and with 8 beams; the adapter folded into the
dequantized NF4 weights (``--precision fp32/bf16``, what `sqlora merge` writes) alone and in bf16 with name repair
and 4 or 8 execution-guided beams. "Name repair" includes the join repair (``ON T1.x = T1.x`` pointed at the joined
table); the "no join repair" variants leave it out. For a plain LoRA adapter (``quantize: false``) "bf16" is the
adapter merged into the original weights, in bf16.
Writes bench/results/decoding.json (or --output) and prints a table, one row per variant as it finishes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from eval_summary import summarize
from validation_rows import validation_rows

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "decoding.json"
VARIANTS = {  # precision "original": the adapter merged into the original fp32 weights (not what it trained on)
    "greedy": {"repair": False, "candidates": 1, "precision": "original"},
    "greedy+beam4": {"repair": False, "candidates": 4, "precision": "original", "checks": False},
    "greedy, NF4 base (as trained)": {"repair": False, "candidates": 1, "precision": "nf4"},
    "NF4 + name repair": {"repair": True, "candidates": 1, "precision": "nf4"},
    "NF4 + beam4, schema check": {"repair": False, "candidates": 4, "precision": "nf4", "checks": False},
    "NF4 + beam4, execution-guided": {"repair": False, "candidates": 4, "precision": "nf4", "checks": True},
    "NF4 + name repair + beam4, exec-guided": {"repair": True, "candidates": 4, "precision": "nf4", "checks": True},
    "NF4 + name repair + beam8, exec-guided": {"repair": True, "candidates": 8, "precision": "nf4", "checks": True},
    "merged into dequantized NF4, fp32": {"repair": False, "candidates": 1, "precision": "fp32"},
    "merged into dequantized NF4, bf16": {"repair": False, "candidates": 1, "precision": "bf16"},
    "bf16 + name repair, no join repair": {"repair": True, "candidates": 1, "precision": "bf16", "joins": False},
    "bf16 + name repair": {"repair": True, "candidates": 1, "precision": "bf16"},
    "bf16 + name repair, no join repair + beam4, exec-guided": {
        "repair": True,
        "candidates": 4,
        "precision": "bf16",
        "checks": True,
        "joins": False,
    },
    "bf16 + name repair + beam4, exec-guided": {"repair": True, "candidates": 4, "precision": "bf16", "checks": True},
    "bf16 + name repair + beam8, exec-guided": {"repair": True, "candidates": 8, "precision": "bf16", "checks": True},
}


def run_variant(adapter: Path, rows: list, options: dict) -> dict:
    from sqlora.evaluation.runner import evaluate
    from sqlora.inference.generator import DEFAULT_REPAIRS, SQLGenerator, adapter_metadata
    from sqlora.inference.validation import repair_joins

    options = dict(options)
    checks = options.pop("checks", False)
    # "joins": False keeps name repair but drops the join repair (ON T1.x = T1.x), to measure what it adds
    if not options.pop("joins", True):
        options["repairs"] = [step for step in DEFAULT_REPAIRS if step is not repair_joins]
    if options["precision"] == "original":  # folding a QLoRA adapter into weights it never saw
        from sqlora.models.loading import load_model, load_tokenizer

        meta = adapter_metadata(str(adapter))
        options.pop("precision")
        model = load_model(meta.get("base_model"), device="cpu", adapter=str(adapter))
        tokenizer = load_tokenizer(meta.get("base_model"))
        generator = SQLGenerator.from_model(model, tokenizer, meta.get("prompt_style", "article"), **options)
    else:
        generator = SQLGenerator(adapter=str(adapter), **options)
    started = time.perf_counter()
    report = evaluate(rows, generator, SHARED / "spider" / "database", progress=False, execution_checks=checks)
    return summarize(report.aggregates, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=80)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    rows = validation_rows(args.adapter, args.rows)
    print(f"{'variant':<32} {'EX':>6} {'valid':>6} {'latency s':>10} {'tokens':>7}", flush=True)
    results = {}
    for name in args.variants:
        r = results[name] = run_variant(args.adapter, rows, VARIANTS[name])
        ex, valid, latency, tokens = r["ex"], r["valid_rate"], r["latency_s_mean"], r["mean_generated_tokens"]
        print(f"{name:<32} {ex:>6.1%} {valid:>6.1%} {latency:>10.2f} {tokens:>7.1f}", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"adapter": str(args.adapter), "rows": len(rows), "variants": results}, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
