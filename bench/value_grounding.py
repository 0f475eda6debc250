"""Literal grounding on and off over the same completions: what matching filter literals to stored values is worth.

    VAL=aircraft,city_record,loan_1,local_govt_mdm,products_gen_characteristics,soccer_2,solvency_ii,station_weather,theme_gallery,wrestler
    python bench/value_grounding.py --set val_sqlcc:$VAL:80 --set val_linked:$VAL:150
    python bench/value_grounding.py --set heldout_sqlcc:HOLDOUT:100 --set heldout_linked:HOLDOUT:40

Each set is ``name:databases:rows`` (``HOLDOUT``: the shipped adapter's held-out databases); a name ending in
``linked`` reads Spider's questions with question-linked schemas (``--spider-schema question``), any other the
sql-create-context rows, chosen as ``sqlora eval --holdout-dbs ... --limit ... --seed 0`` chooses them. The
adapter (default: the shipped one) answers each row once, greedily; each completion then goes through
``SQLGenerator.answer`` twice, with the repairs but without the database's values, and with them
(:mod:`sqlora.sql.values`), and both are scored by execution on the real database. Prints a table and writes JSON
(``--output``) with the date and the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "value_grounding.json"


def load_set(name: str, databases: list[str], rows: int) -> list:
    from sqlora.data.loaders import load_examples
    from sqlora.evaluation.runner import select_examples

    if name.endswith("linked"):
        loaded = load_examples(SHARED / "spider", spider_schema="question")
    else:
        loaded = load_examples(SHARED / "sql-create-context" / "train.jsonl", db_dir=SHARED / "spider" / "database")
    return select_examples(loaded.examples, rows, 0, databases)


def score_set(generator, rows: list) -> dict:
    """Greedy completions once; EX without and with grounding, and the rows it changed."""
    from sqlora.db.context import sqlite_file_values
    from sqlora.db.sqlite import connect_readonly
    from sqlora.evaluation.execution import execution_match
    from sqlora.evaluation.runner import database_path

    db_dir = SHARED / "spider" / "database"
    started = time.perf_counter()
    completions = generator.complete([generator.prompt(e.question, e.context) for e in rows])
    generation_s = time.perf_counter() - started
    without = with_values = 0
    changed = []
    for example, (text, count) in zip(rows, completions, strict=True):
        path = database_path(example, db_dir)
        plain = generator.answer(text, example.context, generated_tokens=count, question=example.question)
        grounded = generator.answer(
            text, example.context, generated_tokens=count, question=example.question, values=sqlite_file_values(path)
        )
        conn = connect_readonly(path)
        before = bool(execution_match(conn, example.sql, plain.sql, 10.0).ex)
        after = bool(execution_match(conn, example.sql, grounded.sql, 10.0).ex) if grounded.sql != plain.sql else before
        conn.close()
        without += before
        with_values += after
        if grounded.sql != plain.sql:
            changed.append(
                {"db_id": example.db_id, "question": example.question, "gold": example.sql, "without": plain.sql,
                 "with": grounded.sql, "ex_without": before, "ex_with": after}
            )  # fmt: skip
    n = len(rows)
    return {
        "n": n,
        "ex_without": without / n,
        "ex_with": with_values / n,
        "won": sum(c["ex_with"] and not c["ex_without"] for c in changed),
        "lost": sum(c["ex_without"] and not c["ex_with"] for c in changed),
        "changed": changed,
        "generation_s": generation_s,
    }


def main() -> None:
    from sqlora.cli.demo import HOLDOUT_DBS
    from sqlora.inference.generator import SQLGenerator
    from sqlora.training.hardware import machine_facts

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", required=True, help="name:databases:rows (see above)")
    parser.add_argument("--adapter", default="shipped")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    generator = SQLGenerator(adapter=args.adapter, repair=True)
    results = json.loads(args.output.read_text()) if args.output.exists() else {}
    for spec in args.set:
        if spec.count(":") != 2 or not spec.rsplit(":", 1)[1].isdigit():
            parser.error(f"--set {spec!r}: expected name:databases:rows, e.g. val_sqlcc:aircraft,loan_1:80")
        name, databases, rows = spec.split(":")
        chosen = list(HOLDOUT_DBS) if databases == "HOLDOUT" else databases.split(",")
        results[name] = {
            "date": time.strftime("%Y-%m-%d"),
            "adapter": args.adapter,
            "precision": generator.precision,
            "databases": chosen,
            "machine": machine_facts(),
            **score_set(generator, load_set(name, chosen, int(rows))),
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{'set':16} {'n':>4} {'EX without':>11} {'EX with':>8} {'won':>4} {'lost':>5} {'changed':>8}")
    for name, r in results.items():
        print(
            f"{name:16} {r['n']:>4} {100 * r['ex_without']:>10.1f}% {100 * r['ex_with']:>7.1f}% "
            f"{r['won']:>4} {r['lost']:>5} {len(r['changed']):>8}"
        )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
