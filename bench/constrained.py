"""Does schema-constrained decoding pay? EX, valid-SQL rate and per-token cost with and without the grammar.

    python bench/constrained.py --rows 32

Rows: sql-create-context rows of the headline recipe's own validation databases (the split `sqlora train`
makes from bench/headline.yaml: never trained on, not the held-out test databases), scored by EX on the
real Spider databases. Model: the base embedded SmolLM2-135M-Instruct in fp32 with the article prompt
(no trained adapter is part of the repository). Each batch is generated greedily twice, without and with
the grammar (``sqlora.inference.constrained``), alternating which goes first so load on a shared machine
hits both alike; "+ name repair" re-scores the unconstrained answers after the existing name and join
repair (no model call). Writes bench/results/constrained.json (or --output) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from validation_rows import validation_rows

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "constrained.json"
VARIANTS = ("greedy", "greedy + name repair", "constrained")


def cpu_model() -> str:
    """The CPU's model name as lscpu reports it."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def rows_for(config: Path, n: int) -> list:
    """The validation rows of the run ``config`` describes (validation_rows reads <adapter>/train_config.yaml)."""
    with tempfile.TemporaryDirectory() as folder:
        shutil.copy(config, Path(folder) / "train_config.yaml")
        return validation_rows(Path(folder), n)


def generate(model, tokenizer, prompts: list[str], schemas: list[str] | None, max_new_tokens: int) -> dict:
    """One greedy batch; with ``schemas`` under the grammar. Texts, tokens, decoding steps, seconds, mask seconds."""
    import torch
    from transformers import StoppingCriteriaList

    from sqlora.inference.constrained import constrained_logits_processor
    from sqlora.inference.generator import STOP_STRINGS
    from sqlora.inference.stopping import RunawayStop

    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    width = encoded["input_ids"].shape[1]
    began = time.perf_counter()
    processor = constrained_logits_processor(tokenizer, schemas) if schemas else None
    with torch.inference_mode():
        out = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            stop_strings=STOP_STRINGS,
            stopping_criteria=StoppingCriteriaList([RunawayStop(tokenizer, width)]),
            logits_processor=[processor] if processor else None,
            tokenizer=tokenizer,
            pad_token_id=tokenizer.pad_token_id,
        )
    seconds = time.perf_counter() - began
    rows = out[:, width:]
    tokens = [int((row != tokenizer.pad_token_id).sum()) for row in rows]
    texts = [tokenizer.decode(row, skip_special_tokens=True) for row in rows]
    return {
        "texts": texts,
        "tokens": tokens,
        "steps": int(rows.shape[1]),
        "seconds": seconds,
        "mask_s": processor.mask_s if processor else 0.0,
    }


def score(example, sql: str) -> tuple[bool, bool]:
    """(EX, executes) of ``sql`` on the example's real database, read-only."""
    from sqlora.evaluation.execution import execution_match
    from sqlora.evaluation.runner import database_path

    outcome = execution_match(database_path(example, SHARED / "spider" / "database"), example.sql, sql)
    return bool(outcome.ex), outcome.pred_executed and bool(sql.strip())


def repaired(sql: str, schema: str) -> str:
    """The existing post-hoc lever: wrong names renamed to the schema's closest, self-joins pointed right."""
    from sqlora.inference.validation import repair_identifiers, repair_joins, validate_sql

    renamed = sql if validate_sql(sql, schema).valid else repair_identifiers(sql, schema)
    if renamed is None:
        return sql
    return repair_joins(renamed, schema) or renamed


def totals(records: list[dict]) -> dict:
    n = len(records)
    return {
        "n": n,
        "ex": sum(r["ex"] for r in records) / n,
        "valid_rate": sum(r["valid"] for r in records) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "bench" / "headline.yaml")
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--prompt-style", default="article", choices=["article", "chat"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torch

    from sqlora.models.loading import load_model, load_tokenizer
    from sqlora.prompts.extraction import extract_sql
    from sqlora.prompts.templates import render_prompt

    load_before = os.getloadavg()
    rows = rows_for(args.config, args.rows)
    tokenizer = load_tokenizer(None)
    tokenizer.padding_side = "left"
    model = load_model(None, device="cpu")
    prompts = [render_prompt(e.context, e.question, args.prompt_style, tokenizer) for e in rows]
    generate(model, tokenizer, prompts[:1], [rows[0].context], 4)  # warm-up: stop-string tables, llguidance
    generate(model, tokenizer, prompts[:1], None, 4)

    records: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    cost = {name: {"seconds": 0.0, "tokens": 0, "steps": 0, "mask_s": 0.0} for name in ("greedy", "constrained")}
    for index, start in enumerate(range(0, len(rows), args.batch_size)):
        batch, batch_prompts = rows[start : start + args.batch_size], prompts[start : start + args.batch_size]
        order = ("greedy", "constrained") if index % 2 == 0 else ("constrained", "greedy")
        runs = {}
        for name in order:
            schemas = [e.context for e in batch] if name == "constrained" else None
            runs[name] = generate(model, tokenizer, batch_prompts, schemas, args.max_new_tokens)
            for key in cost[name]:
                cost[name][key] += runs[name][key] if key != "tokens" else sum(runs[name]["tokens"])
        for i, example in enumerate(batch):
            plain = extract_sql(runs["greedy"]["texts"][i])
            answers = {
                "greedy": plain,
                "greedy + name repair": repaired(plain, example.context),
                "constrained": extract_sql(runs["constrained"]["texts"][i]),
            }
            for name, sql in answers.items():
                ex, valid = score(example, sql)
                records[name].append({"db_id": example.db_id, "sql": sql, "ex": ex, "valid": valid})
        done = start + len(batch)
        print(f"{done}/{len(rows)} rows: " + ", ".join(f"{n} EX {totals(r)['ex']:.2f}" for n, r in records.items()))

    summary = {}
    for name in VARIANTS:
        timing = cost["constrained" if name == "constrained" else "greedy"]
        summary[name] = totals(records[name]) | {
            "latency_s_per_question": timing["seconds"] / len(rows),
            "ms_per_decoding_step": 1000 * timing["seconds"] / timing["steps"],
            "generated_tokens_per_question": timing["tokens"] / len(rows),
            "mask_ms_per_step": 1000 * timing["mask_s"] / timing["steps"],
        }
    base = summary["greedy"]
    for values in summary.values():
        values["step_cost_vs_greedy"] = values["ms_per_decoding_step"] / base["ms_per_decoding_step"]
        values["latency_vs_greedy"] = values["latency_s_per_question"] / base["latency_s_per_question"]

    header = f"{'variant':<22} {'n':>4} {'EX %':>6} {'valid %':>8} {'s/question':>11} {'ms/step':>8} "
    header += f"{'mask ms/step':>13} {'tokens/q':>9} {'latency x':>10}"
    print(header)
    for name, v in summary.items():
        print(
            f"{name:<22} {v['n']:>4} {100 * v['ex']:>6.1f} {100 * v['valid_rate']:>8.1f} "
            f"{v['latency_s_per_question']:>11.2f} {v['ms_per_decoding_step']:>8.1f} {v['mask_ms_per_step']:>13.2f} "
            f"{v['generated_tokens_per_question']:>9.1f} {v['latency_vs_greedy']:>9.2f}x"
        )
    document = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "model": "embedded SmolLM2-135M-Instruct, fp32, no adapter",
        "config": str(args.config.relative_to(ROOT)) if args.config.is_relative_to(ROOT) else str(args.config),
        "validation_dbs": sorted({e.db_id for e in rows}),
        "rows": len(rows),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "prompt_style": args.prompt_style,
        "variants": summary,
        "answers": records,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
