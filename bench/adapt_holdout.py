"""`sqlora adapt` on databases the shipped adapter never saw, scored on their human-written Spider questions.

    python bench/adapt_holdout.py                                   # the 8 held-out databases, default settings
    python bench/adapt_holdout.py --dbs hr_1 --max-steps 100        # one database, a shorter run
    python bench/adapt_holdout.py --dbs storm_record --postgres     # served by PostgreSQL (127.0.0.1:5432)
    python bench/adapt_holdout.py --dbs soccer_2,aircraft --general spider-linked   # a setting, on validation dbs

For each database: adapt from the database alone (`run_adapt`, starting from the shipped adapter, general rows
(`--general`) without any row of the held-out databases or of the adapted one, so no Spider question of that
database is used for training), then score three models on that database's Spider questions by execution: the raw
base model, the shipped adapter (what adaptation starts from) and the adapted one. The held-out databases are the
shipped adapter's (sqlora.cli.demo.HOLDOUT_DBS), so none of the three saw these questions. Prints a table and writes
JSON with the time per database, its date and the machine (CPU model and flags); databases measured before in the
same JSON file are kept, so the set can be measured a few databases at a time. (music_2 has no rows: every query
returns nothing, so EX says nothing there.) Settings are chosen on the headline run's validation databases (never
trained on; `VAL` in docs/results.md, e.g. aircraft, soccer_2), then measured once on the held-out ones.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlglot

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "adapt_holdout.json"
PG_SERVER = "host=127.0.0.1 port=5432 user=postgres"


def spider_questions(db_id: str, limit: int | None, folder: Path) -> Path:
    """The database's Spider questions with their gold SQL, as a questions file `sqlora adapt` reads."""
    rows = [json.loads(line) for line in (SHARED / "spider" / "train_spider.jsonl").read_text().splitlines()]
    mine = [{"question": r["question"], "sql": r["query"]} for r in rows if r["db_id"] == db_id][:limit]
    path = folder / f"{db_id}.questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in mine))
    return path


GENERAL_SOURCES = ("sql-create-context", "spider-linked")


def general_rows(folder: Path, source: str, exclude: set[str]) -> Path:
    """The general rows adaptation mixes in, without any row of the ``exclude`` databases (those scored).

    ``sql-create-context``: its rows (which hold Spider's own questions, with contexts cut to the gold query);
    ``spider-linked``: Spider's human-written questions in the question-linked contexts they are asked in
    (``--spider-schema question``, as ``sqlora ask --db`` builds them).
    """
    from sqlora.data.loaders import load_examples

    if source == "sql-create-context":
        lines = (SHARED / "sql-create-context" / "train.jsonl").read_text().splitlines()
        kept = [line for line in lines if json.loads(line).get("db_id") not in exclude]
    else:
        rows = load_examples(SHARED / "spider", spider_schema="question").examples
        kept = [
            json.dumps({"question": r.question, "context": r.context, "answer": r.sql, "db_id": r.db_id})
            for r in rows
            if r.db_id not in exclude
        ]
    path = folder / f"general-{source}.jsonl"
    path.write_text("".join(line + "\n" for line in kept))
    return path


def copy_to_postgres(sqlite_file: Path, name: str) -> str:
    """A fresh PostgreSQL database with the file's tables (lower-case names), rows, primary and foreign keys.

    Column types follow the stored values (SQLite does not enforce declared ones). Keys the data breaks, or that
    PostgreSQL cannot declare, are left out; foreign keys are declared NOT VALID (Spider rows do not always
    satisfy them). Returns the database's URL.
    """
    import sqlite3

    import psycopg

    with psycopg.connect(PG_SERVER, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    source = sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True)
    tables = [r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY rowid")]
    with psycopg.connect(PG_SERVER, dbname=name, autocommit=True) as conn:
        for table in tables:
            rows = source.execute(f'SELECT * FROM "{table}"').fetchall()
            columns = [r[1] for r in source.execute(f'PRAGMA table_info("{table}")')]
            types = [_pg_type([row[i] for row in rows]) for i in range(len(columns))]
            defs = ", ".join(f'"{c.lower()}" {t}' for c, t in zip(columns, types, strict=True))
            conn.execute(f'CREATE TABLE "{table.lower()}" ({defs})')
            marks = ", ".join(["%s"] * len(columns))
            with conn.cursor() as cur:
                cur.executemany(f'INSERT INTO "{table.lower()}" VALUES ({marks})', rows)
        keys = []
        for table in tables:
            pk = [r[1].lower() for r in sorted(source.execute(f'PRAGMA table_info("{table}")'), key=lambda r: r[5])
                  if r[5]]  # fmt: skip
            if pk:
                keys.append(f'ALTER TABLE "{table.lower()}" ADD PRIMARY KEY ({", ".join(pk)})')
        for table in tables:
            for fk in source.execute(f'PRAGMA foreign_key_list("{table}")'):
                keys.append(f'ALTER TABLE "{table.lower()}" ADD FOREIGN KEY ("{fk[3].lower()}") '
                            f'REFERENCES "{fk[2].lower()}" ("{(fk[4] or fk[3]).lower()}") NOT VALID')  # fmt: skip
        for statement in keys:
            try:
                conn.execute(statement)
            except psycopg.Error as err:
                print(f"  {name}: left out ({str(err).splitlines()[0]}): {statement}")
    source.close()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def _pg_type(values: list) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) for v in present):
        return "BIGINT"
    if present and all(isinstance(v, int | float) for v in present):
        return "DOUBLE PRECISION"
    return "TEXT"


def questions_for_postgres(questions: Path, sqlite_url: str, pg_url: str) -> tuple[Path, int]:
    """The questions with gold SQL rewritten for PostgreSQL, kept where it returns what the SQLite gold returns.

    Returns the new file and how many questions were dropped.
    """
    from sqlora.db import Database
    from sqlora.evaluation.execution import has_top_level_order_by, results_match
    from sqlora.sql.dialects import transpile
    from sqlora.sql.to_dialect import schema_columns

    kept, dropped = [], 0
    with Database(sqlite_url) as lite, Database(pg_url) as pg:
        columns = schema_columns(lite.schema_context())
        for row in map(json.loads, questions.read_text().splitlines()):
            try:
                gold = transpile(row["sql"], to="postgres", columns=columns)
                tree = sqlglot.parse_one(gold, read="postgres")
                for ident in tree.find_all(sqlglot.exp.Identifier):
                    ident.set("this", ident.name.lower())
                gold = tree.sql(dialect="postgres")
                want = lite.execute_readonly(row["sql"], timeout_s=10, max_rows=1000).rows
                got = pg.execute_readonly(gold, timeout_s=10, max_rows=1000).rows
            except Exception:  # a gold query that cannot be rewritten or does not run on one of the two engines
                dropped += 1
                continue
            if results_match(want, got, has_top_level_order_by(row["sql"])):
                kept.append({"question": row["question"], "sql": gold})
            else:
                dropped += 1
    path = questions.with_suffix(".postgres.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return path, dropped


def adapt_one(db_id: str, args: argparse.Namespace) -> dict:
    from sqlora.adapt.pipeline import AdaptOptions, run_adapt, scoring_generator
    from sqlora.adapt.questions import load_questions
    from sqlora.adapt.scoring import score
    from sqlora.cli.demo import HOLDOUT_DBS
    from sqlora.db import Database

    out = args.runs / db_id
    out.mkdir(parents=True, exist_ok=True)
    sqlite_file = SHARED / "spider" / "database" / db_id / f"{db_id}.sqlite"
    url = f"sqlite:///{sqlite_file}"
    questions = spider_questions(db_id, args.questions_limit, out)
    dropped = 0
    if args.postgres:
        sqlite_url, url = url, copy_to_postgres(sqlite_file, f"sqlora_holdout_{db_id}")
        questions, dropped = questions_for_postgres(questions, sqlite_url, url)
    started = time.perf_counter()
    options = AdaptOptions(
        db=url,
        output=str(out / "adapter"),
        questions=str(questions),
        from_adapter=args.from_adapter,
        model=args.model,
        max_pairs=args.max_pairs,
        general_data=str(general_rows(args.runs, args.general, {*HOLDOUT_DBS, db_id})),
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
        "backend": report["backend"],
        "questions": report["questions"],
        "questions_dropped": dropped,
        "pairs": report["pairs"],
        "general_rows": report["general_rows"],
        "general_source": args.general,
        "general_rows_exclude": "held-out databases and the adapted one",
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
    with_rows = [db for db in HOLDOUT_DBS if db != "music_2"]  # music_2 ships without rows
    parser.add_argument("--dbs", default=",".join(with_rows), help="Comma-separated Spider db_ids.")
    parser.add_argument("--from-adapter", default="shipped", help="Adapter adaptation starts from.")
    parser.add_argument("--model", help="Base model (default: the embedded one).")
    parser.add_argument("--max-steps", type=int, help="Training steps per database (default: sqlora adapt's).")
    parser.add_argument("--train-minutes", type=float, help="Training time budget (default: sqlora adapt's).")
    parser.add_argument("--max-pairs", type=int, default=3000)
    parser.add_argument(
        "--general", choices=GENERAL_SOURCES, default=GENERAL_SOURCES[0], help="Where the general rows come from."
    )
    parser.add_argument("--eval-limit", type=int, default=100, help="Generated validation pairs scored.")
    parser.add_argument("--questions-limit", type=int, help="At most this many Spider questions per database.")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"Serve each database from PostgreSQL ({PG_SERVER}): copied there, gold SQL rewritten.",
    )
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "adapt_holdout")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    settings = {k: str(v) for k, v in vars(args).items() if k not in ("dbs", "runs", "output")}
    try:
        start = {"from_adapter": args.from_adapter, "from_adapter_sha256": fingerprint(args.from_adapter)}
    except FileNotFoundError as err:
        parser.error(f"--from-adapter {args.from_adapter}: {err.strerror}: {err.filename}")
    missing = [db for db in args.dbs.split(",") if not (SHARED / "spider" / "database" / db / f"{db}.sqlite").is_file()]
    if missing:
        parser.error(f"--dbs: no Spider database {', '.join(missing)} under {SHARED / 'spider' / 'database'}")
    for db_id in args.dbs.split(","):
        when = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "commit": commit(), "machine": machine_facts()}
        when["settings"] = settings
        r = when | start | adapt_one(db_id, args)
        print(f"{db_id}: base {r['base_ex']:.1%}, from {r['from_ex']:.1%}, adapted {r['adapted_ex']:.1%}")
        results = record(r, args.output)
    print(f"{'database':<30} {'n':>4} {'base %':>7} {'from %':>7} {'adapted %':>10} {'minutes':>8}")
    for r in results:
        print(
            f"{r['db_id'] + ' (' + r['backend'] + ')':<30} {r['questions']:>4} {100 * r['base_ex']:>7.1f} "
            f"{100 * r['from_ex']:>7.1f} {100 * r['adapted_ex']:>10.1f} {r['adapt_s'] / 60:>8.1f}"
        )
    mean = json.loads(args.output.read_text())["mean"]
    print(f"{'mean':<30} {'':>4} " + " ".join(f"{100 * mean[k]:>7.1f}" for k in mean))
    print(f"wrote {args.output}")


def fingerprint(adapter: str) -> str:
    """The first 12 hex digits of the adapter weights' SHA-256, so results name the exact adapter they started from."""
    import hashlib

    from sqlora.models.shipped import resolve_adapter

    weights = Path(resolve_adapter(adapter)) / "adapter_model.safetensors"
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:12]


def commit() -> str:
    """The checkout's commit (with ``+changes`` when the tree differs from it)."""
    import subprocess

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout  # fmt: skip
    return head.strip() + ("+changes" if dirty.strip() else "")


def record(entry: dict, output: Path) -> list[dict]:
    """Add one database's result to the JSON file (replacing an earlier one for the same database and backend)."""
    previous = json.loads(output.read_text())["databases"] if output.exists() else []
    key = (entry["db_id"], entry["backend"])
    results = [r for r in previous if (r["db_id"], r["backend"]) != key] + [entry]
    mean = {k: sum(r[k] for r in results) / len(results) for k in ("base_ex", "from_ex", "adapted_ex")}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"mean": mean, "databases": results}, indent=2))
    return results


if __name__ == "__main__":
    main()
