"""What the join repair changes in answers already scored: re-score stored `sqlora eval --json` reports.

    python bench/join_repair.py bench/results/headline_2ep_sqlcc.json bench/results/headline_sqlcc.json

Each stored prediction with a join condition that compares a column with itself (``ON T1.x = T1.x``) is
repaired as `sqlora eval --repair` does (:mod:`sqlora.sql.joins`, with the real database's column names) and
executed again on its Spider database; every other row keeps its stored verdict. No model is run, so any
stored report can be re-scored with the repair. Writes bench/results/join_repair.json (or --output).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB_DIR = ROOT.parent / "shared" / "data" / "spider" / "database"
RESULTS = ROOT / "bench" / "results" / "join_repair.json"


def rescore(report: Path, db_dir: Path) -> dict:
    """EX of a report's tuned answers before and after the join repair, and the rows it changed."""
    from sqlora.db.sqlite import sqlite_tables
    from sqlora.evaluation.execution import execution_match
    from sqlora.sql.joins import fix_self_comparisons

    data = json.loads(report.read_text())
    examples = data["tuned"]["examples"] if "tuned" in data else data["examples"]
    before = after = 0
    changed = []
    for row in examples:
        database = db_dir / row["db_id"] / f"{row['db_id']}.sqlite"
        fixed = fix_self_comparisons(row["pred"], sqlite_tables(str(database))) if row["pred"] else None
        correct = bool(row["ex"])
        if fixed is not None:
            now = execution_match(database, row["gold"], fixed).outcome == "correct"
            changed.append({"db_id": row["db_id"], "pred": row["pred"], "repaired": fixed, "ex": [correct, now]})
            correct_after = now
        else:
            correct_after = correct
        before += correct
        after += correct_after
    n = len(examples)
    return {"n": n, "ex_before": before / n, "ex_after": after / n, "changed": changed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--db-dir", type=Path, default=DB_DIR)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    print(f"{'report':<48} {'n':>4} {'EX before':>10} {'EX after':>9} {'changed':>8}")
    results = {}
    for report in args.reports:
        r = results[str(report)] = rescore(report, args.db_dir)
        print(f"{report.name:<48} {r['n']:>4} {r['ex_before']:>10.1%} {r['ex_after']:>9.1%} {len(r['changed']):>8}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
