"""Does pruning a whole database schema by the question (schema linking) help a model tuned on pruned contexts?

    python bench/schema_linking.py --adapter shipped --rows 150
    python bench/schema_linking.py --recall-only        # no model: recall and size on every non-held-out database

Rows are Spider questions of the adapter's own validation databases (never trained on, not the headline's
test databases), scored by EX on the real Spider databases, greedy with name repair. Each variant gives the
model a different context for the same question:

- ``full``: the database's whole schema (what `sqlora eval --data <spider folder>` gives);
- ``question-linked tables``: the tables :func:`sqlora.sql.linking.question_pruned_tables` keeps, with all
  their columns;
- ``question-linked tables and columns``: what it returns, the `--spider-schema question` and `ask --db` context
  (tables and columns chosen by the question's words, the values it spells out and the foreign keys);
- ``gold`` (reference, uses the answer): the tables and columns the gold query uses, as in training.

Also reports how often each context keeps every table and column the gold query needs (recall) and its
mean column count. Writes bench/results/schema_linking.json (or --output) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

from validation_rows import validation_dbs

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT.parent / "shared" / "data" / "spider"
RESULTS = ROOT / "bench" / "results" / "schema_linking.json"
VARIANTS = ["full", "question-linked tables", "question-linked tables and columns", "gold"]


def variant_tables(name: str, example) -> list:
    from sqlora.data.pruning import gold_pruned_tables
    from sqlora.db.context import sqlite_file_values
    from sqlora.db.sqlite import sqlite_links, sqlite_tables
    from sqlora.sql.linking import question_pruned_tables

    tables = sqlite_tables(example.db_path)
    if name == "full":
        return list(tables)
    if name == "gold":
        return gold_pruned_tables(example.sql, tables) or list(tables)
    linked = question_pruned_tables(
        example.question, tables, sqlite_links(example.db_path), sqlite_file_values(example.db_path)
    )
    if name == "question-linked tables":
        kept = {t.name for t in linked}
        return [t for t in tables if t.name in kept]
    return linked


def recall(tables: list, example) -> bool:
    """Whether ``tables`` keep every table and column the gold query uses."""
    from sqlora.data.pruning import gold_pruned_tables
    from sqlora.db.sqlite import sqlite_tables

    gold = gold_pruned_tables(example.sql, sqlite_tables(example.db_path)) or []
    kept = {t.name.lower(): {c.lower() for c in t.column_names} for t in tables}
    return all(t.name.lower() in kept and {c.lower() for c in t.column_names} <= kept[t.name.lower()] for t in gold)


def context_stats(contexts: list, rows: list) -> dict:
    return {
        "recall": sum(recall(t, e) for t, e in zip(contexts, rows, strict=True)) / len(rows),
        "mean_columns": sum(len(x.columns) for t in contexts for x in t) / len(rows),
    }


def main() -> None:
    from sqlora.cli.demo import HOLDOUT_DBS
    from sqlora.data.loaders import load_examples
    from sqlora.data.record import Example
    from sqlora.evaluation.runner import evaluate, select_examples
    from sqlora.inference.generator import SQLGenerator
    from sqlora.models.shipped import resolve_adapter
    from sqlora.sql.schema import render_create_tables
    from sqlora.training.hardware import machine_facts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="shipped", help="adapter folder or 'shipped'")
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--variants", nargs="*", default=VARIANTS)
    parser.add_argument("--recall-only", action="store_true", help="no model: every non-held-out database's questions")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    spider = load_examples(SPIDER).examples
    if args.recall_only:
        rows = [e for e in spider if e.db_id not in set(HOLDOUT_DBS)]
    else:
        rows = select_examples(spider, args.rows, 0, validation_dbs(Path(resolve_adapter(args.adapter))))
    generator = None if args.recall_only else SQLGenerator(adapter=args.adapter)
    print(f"{'context':<40} {'EX':>6} {'valid':>6} {'recall':>7} {'columns':>8} {'latency s':>10}", flush=True)
    results = {}
    for name in args.variants:
        contexts = [variant_tables(name, e) for e in rows]
        r = results[name] = {"n": len(rows), **context_stats(contexts, rows)}
        if generator is not None:
            examples = [
                Example(**{**e.to_dict(), "context": render_create_tables(t)})
                for e, t in zip(rows, contexts, strict=True)
            ]
            started = time.perf_counter()
            report = evaluate(examples, generator, SPIDER / "database", progress=False)
            agg = report.aggregates
            r |= {
                "ex": agg["ex"],
                "valid_rate": agg["valid_rate"],
                "latency_s_mean": agg["latency_s"]["mean"],
                "wall_s": round(time.perf_counter() - started, 1),
                "right": [i for i, x in enumerate(report.examples) if x.ex],
            }
        ex = f"{r['ex']:>6.1%} {r['valid_rate']:>6.1%}" if "ex" in r else f"{'':>6} {'':>6}"
        latency = f"{r['latency_s_mean']:>10.2f}" if "ex" in r else ""
        print(f"{name:<40} {ex} {r['recall']:>7.1%} {r['mean_columns']:>8.1f} {latency}", flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": date.today().isoformat(),
        "machine": machine_facts(),
        "adapter": None if args.recall_only else args.adapter,
        "rows": len(rows),
        "databases": len({e.db_id for e in rows}),
        "variants": results,
    }
    args.output.write_text(json.dumps(document, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
