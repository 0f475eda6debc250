"""Which rule should pick among candidate queries? Generate once, score every selection rule offline.

    python bench/selection.py --adapter runs/headline --rows 120

For each row of the adapter's own validation databases (never trained on, not the headline's test databases),
the greedy answer and ``--beams`` beam-search candidates are generated once (4-bit base as trained, name repair
on), every candidate is run read-only on the real database, and these rules are scored on the same candidates:

- ``greedy``: the greedy answer;
- ``first passing`` (what ``--candidates`` does): the greedy answer unless it fails on the database or returns no
  rows, else the first beam that runs and returns rows;
- ``vote``: the result returned by most candidates (greedy + beams, among those that run and return rows) wins;
  ties go to the group holding the better-ranked candidate (self-consistency over execution results);
- ``oracle``: any candidate correct (an upper bound no rule can beat).

Writes bench/results/selection.json (or --output) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from validation_rows import validation_rows

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "selection.json"


def candidate_records(adapter: Path, rows: list, beams: int) -> list[dict]:
    """Per row: greedy + beam candidates, each with its execution result key and correctness."""
    from sqlora.db.sqlite import connect_readonly
    from sqlora.evaluation.execution import execution_match, normalize_rows, run_query
    from sqlora.evaluation.runner import database_path
    from sqlora.inference.generator import SQLGenerator

    generator = SQLGenerator(adapter=str(adapter), repair=True)
    prompts = [generator.prompt(e.question, e.context) for e in rows]
    started = time.perf_counter()
    greedy = generator.complete(prompts)
    greedy_s = time.perf_counter() - started
    started = time.perf_counter()
    options = generator.complete_candidates(prompts, beams)
    beams_s = time.perf_counter() - started
    records = []
    for example, first, texts in zip(rows, greedy, options, strict=True):
        conn = connect_readonly(database_path(example, SHARED / "spider" / "database"))
        candidates = []
        for text, count in [first, *texts]:
            answer = generator.answer(text, example.context, generated_tokens=count)
            result = run_query(conn, answer.sql, 10.0, 1000) if answer.valid else None
            key = None
            if result is not None and result.ok and result.rows:
                key = repr(sorted(map(repr, normalize_rows(result.rows))))
            outcome = execution_match(conn, example.sql, answer.sql, 10.0)
            candidates.append({"sql": answer.sql, "key": key, "ex": outcome.ex})
        conn.close()
        records.append({"question": example.question, "gold": example.sql, "candidates": candidates})
    return records, {"greedy_s_per_row": greedy_s / len(rows), "beams_s_per_row": beams_s / len(rows)}


def first_passing(candidates: list[dict]) -> dict:
    return next((c for c in candidates if c["key"] is not None), candidates[0])


def vote(candidates: list[dict]) -> dict:
    counts = Counter(c["key"] for c in candidates if c["key"] is not None)
    if not counts:
        return candidates[0]
    best = max(counts.values())
    return next(c for c in candidates if c["key"] is not None and counts[c["key"]] == best)


RULES = {
    "greedy": lambda cs: cs[0],
    "first passing": first_passing,
    "vote": vote,
    "vote among beams only": lambda cs: vote(cs[1:]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=120)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = validation_rows(args.adapter, args.rows)
    records, timing = candidate_records(args.adapter, rows, args.beams)
    scored = [r for r in records if r["candidates"][0]["ex"] is not None]
    results = {}
    for name, rule in RULES.items():
        results[name] = sum(bool(rule(r["candidates"])["ex"]) for r in scored) / len(scored)
    results["oracle"] = sum(any(c["ex"] for c in r["candidates"]) for r in scored) / len(scored)
    print(f"{'rule':<24} {'EX':>6}   ({len(scored)} rows, greedy + {args.beams} beams)")
    for name, ex in results.items():
        print(f"{name:<24} {ex:>6.1%}")
    document = {"adapter": str(args.adapter), "rows": len(scored), "beams": args.beams, "ex": results, **timing}
    document["records"] = records
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
