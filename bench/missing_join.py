"""What the missing-join repair changes in answers already scored: re-score stored `sqlora eval --json` reports.

    python bench/missing_join.py REPORT.json [REPORT.json ...] --output bench/results/missing_join.json

Each stored answer that failed on its database is repaired twice, in the context it was asked in (rebuilt from
the report's data source and `spider_schema`), and executed again on its Spider database: with name repair
alone (renaming to the closest name; :func:`sqlora.sql.identifiers.fix_identifier`) and with the missing-join
repair tried first, as `sqlora eval` does now (a column of a table the query does not read gets that table
joined; :func:`sqlora.sql.joins.join_missing_column`). Valid answers keep their stored verdict: the repairs
only touch answers that fail. No model is run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DB_DIR = ROOT.parent / "shared" / "data" / "spider" / "database"
RESULTS = ROOT / "bench" / "results" / "missing_join.json"


def repaired(sql: str, schema: str, join_first: bool, attempts: int = 4) -> str | None:
    """``sql`` repaired until it compiles against ``schema`` (None when it cannot be): as `sqlora eval` does
    (:func:`sqlora.inference.validation.repair_identifiers`), or with name repair alone."""
    from sqlora.inference.validation import _schema_tables, repair_identifiers, validate_sql
    from sqlora.sql.identifiers import fix_identifier

    if join_first:
        return repair_identifiers(sql, schema, attempts)
    for _ in range(attempts):
        verdict = validate_sql(sql, schema)
        if verdict.valid:
            return sql
        fixed = fix_identifier(sql, verdict.errors[0], list(_schema_tables(schema)))
        if fixed is None or fixed == sql:
            return None
        sql = fixed
    return sql if validate_sql(sql, schema).valid else None


def rescore(report: Path, db_dir: Path) -> dict:
    """EX of a report's answers as stored, with name repair alone and with the missing-join repair first."""
    from sqlora.data.loaders import load_examples
    from sqlora.evaluation.execution import execution_match

    data = json.loads(report.read_text())
    run = data.get("tuned", data)
    source = load_examples(run["data"], spider_schema=run.get("spider_schema") or "full").examples
    contexts = {(e.db_id, e.question): e.context for e in source}
    rows = run["examples"]
    stored = sum(bool(row["ex"]) for row in rows)
    result = {"n": len(rows), "ex_stored": stored / len(rows), "changed": []}
    for join_first in (False, True):
        right = stored
        for row in rows:
            context = contexts.get((row["db_id"], row["question"]))
            if row["valid"] or not row["pred"] or context is None:
                continue
            fixed = repaired(row["pred"], context, join_first)
            if fixed is None:
                continue
            database = db_dir / row["db_id"] / f"{row['db_id']}.sqlite"
            correct = execution_match(database, row["gold"], fixed).outcome == "correct"
            right += correct
            if join_first:
                result["changed"].append({"db_id": row["db_id"], "pred": row["pred"], "repaired": fixed, "ex": correct})
        result["ex_join_first" if join_first else "ex_names_only"] = right / len(rows)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--db-dir", type=Path, default=DB_DIR)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    print(f"{'report':<48} {'n':>4} {'EX stored':>10} {'names only':>11} {'+ joins':>8} {'compile now':>12}")
    results = {}
    for report in args.reports:
        r = results[str(report)] = rescore(report, args.db_dir)
        print(
            f"{report.name:<48} {r['n']:>4} {r['ex_stored']:>10.1%} {r['ex_names_only']:>11.1%}"
            f" {r['ex_join_first']:>8.1%} {len(r['changed']):>12}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
