"""`sqlora adapt` on databases the shipped adapter never saw, scored on their human-written Spider questions.

    python bench/adapt_holdout.py                                   # the 8 held-out databases, default settings
    python bench/adapt_holdout.py --dbs music_2 --max-steps 100     # one database, a shorter run

For each database: adapt from the database alone (`run_adapt`, starting from the shipped adapter, general rows
from sql-create-context; no Spider question of that database is used for training), then score three models on
that database's Spider questions by execution: the raw base model, the shipped adapter (what adaptation starts
from) and the adapted one. The held-out databases are the shipped adapter's (sqlora.cli.demo.HOLDOUT_DBS), so
none of the three saw these questions. Prints a table and writes JSON with the time per database and the
machine (CPU model and flags).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "adapt_holdout.json"


def spider_questions(db_id: str, limit: int | None, folder: Path) -> Path:
    """The database's Spider questions with their gold SQL, as a questions file `sqlora adapt` reads."""
    rows = [json.loads(line) for line in (SHARED / "spider" / "train_spider.jsonl").read_text().splitlines()]
    mine = [{"question": r["question"], "sql": r["query"]} for r in rows if r["db_id"] == db_id][:limit]
    path = folder / f"{db_id}.questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in mine))
    return path


def adapt_one(db_id: str, args: argparse.Namespace) -> dict:
    from sqlora.adapt.pipeline import AdaptOptions, run_adapt, scoring_generator
    from sqlora.adapt.questions import load_questions
    from sqlora.adapt.scoring import score
    from sqlora.db import Database

    out = args.runs / db_id
    out.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{SHARED / 'spider' / 'database' / db_id / f'{db_id}.sqlite'}"
    questions = spider_questions(db_id, args.questions_limit, out)
    started = time.perf_counter()
    options = AdaptOptions(
        db=url,
        output=str(out / "adapter"),
        questions=str(questions),
        from_adapter=args.from_adapter,
        model=args.model,
        max_pairs=args.max_pairs,
        general_data=str(SHARED / "sql-create-context" / "train.jsonl"),
        eval_limit=args.eval_limit,
        train={k: v for k, v in (("max_steps", args.max_steps), ("max_minutes", args.train_minutes)) if v},
        progress=False,
    )
    report = run_adapt(options, say=lambda line: print(f"  {db_id}: {line}", flush=True))
    adapt_s = time.perf_counter() - started
    db = Database(url)
    try:
        generator = scoring_generator(args.model, None, 160)
        base = score(db, load_questions(questions, db), generator, "base", progress=False)
    finally:
        db.close()
    asked = report["scores"]["questions"]
    return {
        "db_id": db_id,
        "questions": report["questions"],
        "pairs": report["pairs"],
        "base_ex": base["ex"],
        "from_ex": asked["before"]["ex"],
        "adapted_ex": asked["after"]["ex"],
        "adapt_s": round(adapt_s, 1),
        "timings": report["timings"],
    }


def main() -> None:
    from sqlora.cli.demo import HOLDOUT_DBS
    from sqlora.training.hardware import machine_facts

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dbs", default=",".join(HOLDOUT_DBS), help="Comma-separated Spider db_ids.")
    parser.add_argument("--from-adapter", default="shipped", help="Adapter adaptation starts from.")
    parser.add_argument("--model", help="Base model (default: the embedded one).")
    parser.add_argument("--max-steps", type=int, help="Training steps per database (default: sqlora adapt's).")
    parser.add_argument("--train-minutes", type=float, help="Training time budget (default: sqlora adapt's).")
    parser.add_argument("--max-pairs", type=int, default=3000)
    parser.add_argument("--eval-limit", type=int, default=100, help="Generated validation pairs scored.")
    parser.add_argument("--questions-limit", type=int, help="At most this many Spider questions per database.")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "adapt_holdout")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    results = []
    for db_id in args.dbs.split(","):
        results.append(adapt_one(db_id, args))
        r = results[-1]
        print(f"{db_id}: base {r['base_ex']:.1%}, from {r['from_ex']:.1%}, adapted {r['adapted_ex']:.1%}")
    print(f"{'database':<30} {'n':>4} {'base %':>7} {'from %':>7} {'adapted %':>10} {'minutes':>8}")
    for r in results:
        print(
            f"{r['db_id']:<30} {r['questions']:>4} {100 * r['base_ex']:>7.1f} {100 * r['from_ex']:>7.1f} "
            f"{100 * r['adapted_ex']:>10.1f} {r['adapt_s'] / 60:>8.1f}"
        )
    mean = {key: sum(r[key] for r in results) / len(results) for key in ("base_ex", "from_ex", "adapted_ex")}
    print(f"{'mean':<30} {'':>4} " + " ".join(f"{100 * mean[k]:>7.1f}" for k in mean))
    document = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine_facts(),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "mean": mean,
        "databases": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
