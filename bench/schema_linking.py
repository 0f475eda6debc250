"""Does pruning a whole database schema by the question (schema linking) help a model tuned on pruned contexts?

    python bench/schema_linking.py --adapter runs/headline --rows 60

Rows are Spider questions of the adapter's own validation databases (never trained on, not the headline's
test databases), scored by EX on the real Spider databases, greedy with name repair. Each variant gives the
model a different context for the same question:

- ``full``: the database's whole schema (what `sqlora eval --data <spider folder>` gives);
- ``question-linked tables``: only the tables the question is about, all their columns
  (:func:`sqlora.sql.linking.question_pruned_tables`, the `--spider-schema question` context);
- ``question-linked tables, named columns + keys``: those tables with only their first column, the columns
  sharing a word with the question and columns whose name another kept table has (join keys);
- ``gold`` (reference, uses the answer): the tables and columns the gold query uses, as in training.

Also reports how often each context keeps every table and column the gold query needs (recall) and its
mean column count. Writes bench/results/schema_linking.json (or --output) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from validation_rows import validation_dbs

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT.parent / "shared" / "data" / "spider"
RESULTS = ROOT / "bench" / "results" / "schema_linking.json"
VARIANTS = ["full", "question-linked tables", "question-linked tables, named columns + keys", "gold"]


def variant_tables(name: str, example) -> list:
    from sqlora.data.pruning import gold_pruned_tables
    from sqlora.db.sqlite import sqlite_links, sqlite_tables
    from sqlora.sql.linking import question_pruned_tables

    tables = sqlite_tables(example.db_path)
    if name == "full":
        return list(tables)
    if name == "gold":
        return gold_pruned_tables(example.sql, tables) or list(tables)
    linked = question_pruned_tables(example.question, tables, sqlite_links(example.db_path))
    return linked if name == "question-linked tables" else named_columns(linked, example.question)


def named_columns(tables: list, question: str) -> list:
    """Each table cut to its first column (usually the key), the columns sharing a word with the question, and
    columns another kept table also has (join keys by name)."""
    from sqlora.sql.linking import words
    from sqlora.sql.schema import Table

    asked = words(question)
    counts = Counter(c.lower() for t in tables for c in t.column_names)
    return [
        Table(t.name, [c for i, c in enumerate(t.columns) if i == 0 or asked & words(c[0]) or counts[c[0].lower()] > 1])
        for t in tables
    ]


def recall(tables: list, example) -> bool:
    """Whether ``tables`` keep every table and column the gold query uses."""
    from sqlora.data.pruning import gold_pruned_tables
    from sqlora.db.sqlite import sqlite_tables

    gold = gold_pruned_tables(example.sql, sqlite_tables(example.db_path)) or []
    kept = {t.name.lower(): {c.lower() for c in t.column_names} for t in tables}
    return all(t.name.lower() in kept and {c.lower() for c in t.column_names} <= kept[t.name.lower()] for t in gold)


def main() -> None:
    from sqlora.data.loaders import load_examples
    from sqlora.data.record import Example
    from sqlora.evaluation.runner import evaluate, select_examples
    from sqlora.inference.generator import SQLGenerator
    from sqlora.sql.schema import render_create_tables

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=60)
    parser.add_argument("--variants", nargs="*", default=VARIANTS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    spider = load_examples(SPIDER).examples
    rows = select_examples(spider, args.rows, 0, validation_dbs(args.adapter))
    generator = SQLGenerator(adapter=str(args.adapter))
    print(f"{'context':<60} {'EX':>6} {'valid':>6} {'recall':>7} {'columns':>8} {'latency s':>10}", flush=True)
    results = {}
    for name in args.variants:
        contexts = [variant_tables(name, e) for e in rows]
        examples = [
            Example(**{**e.to_dict(), "context": render_create_tables(t)}) for e, t in zip(rows, contexts, strict=True)
        ]
        started = time.perf_counter()
        agg = evaluate(examples, generator, SPIDER / "database", progress=False, execution_checks=False).aggregates
        r = results[name] = {
            "n": agg["n"],
            "ex": agg["ex"],
            "valid_rate": agg["valid_rate"],
            "recall": sum(recall(t, e) for t, e in zip(contexts, rows, strict=True)) / len(rows),
            "mean_columns": sum(len(x.columns) for t in contexts for x in t) / len(rows),
            "latency_s_mean": agg["latency_s"]["mean"],
            "wall_s": round(time.perf_counter() - started, 1),
        }
        print(
            f"{name:<60} {r['ex']:>6.1%} {r['valid_rate']:>6.1%} {r['recall']:>7.1%} {r['mean_columns']:>8.1f}"
            f" {r['latency_s_mean']:>10.2f}",
            flush=True,
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {"adapter": str(args.adapter), "rows": len(rows), "variants": results}
    args.output.write_text(json.dumps(document, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
