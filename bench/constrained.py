"""Does schema-constrained decoding pay? EX, valid-SQL rate and latency with and without the grammar.

    python bench/constrained.py --rows 48                      # the shipped adapter
    python bench/constrained.py --rows 48 --adapter runs/mine  # another adapter (its train_config.yaml)

Rows: sql-create-context rows of the adapter's own validation databases (the split `sqlora train` made from its
train_config.yaml: never trained on, not its held-out test databases), scored by EX on the real Spider
databases. Each batch is answered greedily by `SQLGenerator` twice, without and with `constrained=True`,
alternating which goes first so load on a shared machine hits both alike; each pass is scored as the model
wrote it and after sqlora's repairs (name and join repair, no model call). Writes bench/results/constrained.json
(or --output) with the machine's CPU model and flags, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from validation_rows import SHARED, validation_rows

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "constrained.json"
PASSES = ("greedy", "constrained")


def score(example, sql: str) -> tuple[bool, bool]:
    """(EX, executes) of ``sql`` on the example's real database, read-only."""
    from sqlora.evaluation.execution import execution_match
    from sqlora.evaluation.runner import database_path

    outcome = execution_match(database_path(example, SHARED / "spider" / "database"), example.sql, sql)
    return bool(outcome.ex), outcome.pred_executed and bool(sql.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", default="shipped", help="Adapter directory, or 'shipped'.")
    parser.add_argument("--rows", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from sqlora.inference.generator import SQLGenerator
    from sqlora.models.shipped import resolve_adapter
    from sqlora.training.hardware import machine_facts

    load_before = os.getloadavg()
    rows = validation_rows(Path(resolve_adapter(args.adapter)), args.rows)
    generator = SQLGenerator(adapter=args.adapter, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    repairs = generator.repairs
    generator.generate_batch([(rows[0].question, rows[0].context)])  # warm-up: stop-string tables
    generator.constrained = True
    generator.generate_batch([(rows[0].question, rows[0].context)])  # warm-up: llguidance

    variants = [f"{name}{suffix}" for name in PASSES for suffix in ("", " + repairs")]
    records: dict[str, list[dict]] = {name: [] for name in variants}
    cost = {name: {"seconds": 0.0, "tokens": 0} for name in PASSES}
    for index, start in enumerate(range(0, len(rows), args.batch_size)):
        batch = rows[start : start + args.batch_size]
        pairs = [(e.question, e.context) for e in batch]
        order = PASSES if index % 2 == 0 else PASSES[::-1]
        for name in order:
            generator.constrained, generator.repairs = name == "constrained", []
            began = time.perf_counter()
            answers = generator.generate_batch(pairs)
            cost[name]["seconds"] += time.perf_counter() - began
            cost[name]["tokens"] += sum(a.generated_tokens for a in answers)
            generator.repairs = repairs
            for example, answer in zip(batch, answers, strict=True):
                mended = generator.answer(answer.raw, example.context)  # the same text, after the repairs
                for variant, sql in ((name, answer.sql), (f"{name} + repairs", mended.sql)):
                    ex, valid = score(example, sql)
                    records[variant].append({"db_id": example.db_id, "sql": sql, "ex": ex, "valid": valid})
        done = start + len(batch)
        print(f"{done}/{len(rows)} rows: " + ", ".join(f"{n} EX {ex_rate(r):.2f}" for n, r in records.items()))

    summary = {}
    for variant in variants:
        timing = cost[variant.split(" ")[0]]
        summary[variant] = {
            "n": len(records[variant]),
            "ex": ex_rate(records[variant]),
            "valid_rate": sum(r["valid"] for r in records[variant]) / len(rows),
            "latency_s_per_question": timing["seconds"] / len(rows),
            "generated_tokens_per_question": timing["tokens"] / len(rows),
        }
    print(f"{'variant':<26} {'n':>4} {'EX %':>6} {'valid %':>8} {'s/question':>11} {'tokens/q':>9}")
    for name, v in summary.items():
        print(
            f"{name:<26} {v['n']:>4} {100 * v['ex']:>6.1f} {100 * v['valid_rate']:>8.1f} "
            f"{v['latency_s_per_question']:>11.2f} {v['generated_tokens_per_question']:>9.1f}"
        )
    document = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine_facts(),
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "adapter": args.adapter,
        "precision": generator.precision,
        "validation_dbs": sorted({e.db_id for e in rows}),
        "rows": len(rows),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "variants": summary,
        "answers": records,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2))
    print(f"wrote {args.output}")


def ex_rate(records: list[dict]) -> float:
    return sum(r["ex"] for r in records) / max(1, len(records))


if __name__ == "__main__":
    main()
