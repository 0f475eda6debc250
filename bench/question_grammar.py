"""Are generated questions grammatical? Sample 100 of them from 3 Spider databases for a person to judge.

    python bench/question_grammar.py            # (re)write the sample, keeping verdicts already given
    python bench/question_grammar.py --summary  # print the share judged grammatical

The sample goes to bench/results/question_grammar.json: one object per question with ``db_id``, ``family``,
``question``, ``sql`` and ``grammatical`` (null until judged). The verdicts are written by hand after reading
each question (true/false, with a ``note`` on false ones); this script never fills them in.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from sqlora.db import Database
from sqlora.synth import generate_pairs

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT.parent / "shared" / "data" / "spider" / "database"
DATABASES = ("customers_and_invoices", "college_2", "hospital_1")
OUT = ROOT / "bench" / "results" / "question_grammar.json"


def sample(size: int, seed: int) -> list[dict]:
    """``size`` questions drawn evenly (seeded) from the generated pairs of :data:`DATABASES`."""
    rows = []
    for db_id in DATABASES:
        with Database(SPIDER / db_id / f"{db_id}.sqlite") as db:
            pairs = generate_pairs(db, seed=seed)
        rows += [{"db_id": db_id, "family": p.family, "question": p.question, "sql": p.sql} for p in pairs]
    picked = random.Random(seed).sample(rows, size)
    return sorted(picked, key=lambda r: (r["db_id"], r["family"], r["question"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--summary", action="store_true", help="Print the verdicts' summary only.")
    args = parser.parse_args()
    old = json.loads(args.out.read_text()) if args.out.exists() else {"questions": []}
    if not args.summary:
        verdicts = {q["question"]: q for q in old["questions"] if q.get("grammatical") is not None}
        rows = [{**r, **{k: verdicts[r["question"]][k] for k in ("grammatical", "note") if k in verdicts.get(
            r["question"], {})}} for r in sample(args.size, args.seed)]  # fmt: skip
        for row in rows:
            row.setdefault("grammatical", None)
        meta = {"databases": list(DATABASES), "seed": args.seed, "size": args.size, "judged_by": old.get("judged_by")}
        old = {**meta, "questions": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(old, indent=1, ensure_ascii=False) + "\n")
    judged = [q["grammatical"] for q in old["questions"] if q.get("grammatical") is not None]
    share = f"{100 * sum(judged) / len(judged):.1f} %" if judged else "n/a"
    print(f"{len(old['questions'])} questions, {len(judged)} judged, grammatical: {share}")


if __name__ == "__main__":
    main()
