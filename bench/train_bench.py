"""Training throughput and memory: the article done the plain way vs sqlora vs a plain fp32 LoRA loop.

Each variant runs in its own process (so peak memory is its own) on the same rows of
sql-create-context with the embedded SmolLM2 model, and counts only real (non-padding) tokens.
Every result records the CPU model and the flags that decide speed (AVX512-BF16/AMX or not).

    python bench/train_bench.py                 # all variants, table + bench/results/train_bench.json
    python bench/train_bench.py --levers        # also one sqlora run per efficiency lever
    python bench/train_bench.py --only lever_grad_checkpointing   # (a), (b), (c) and the levers named
    python bench/train_bench.py --baseline-tree ../other-checkout  # adds that checkout's `sqlora train` defaults
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sql-create-context" / "train.jsonl"
RESULTS = ROOT / "bench" / "results" / "train_bench.json"

VARIANTS = {
    "a_article_plain": "(a) article recipe, plain way: HF Trainer + PEFT + bnb NF4, pad to 512, grad checkpointing",
    "b_sqlora": "(b) sqlora train defaults (NF4 QLoRA on the Trainer, length-grouped, logits only on answers)",
    "sqlora_fp32_lora": "sqlora train --no-quantize --mixed-precision no (fp32 LoRA)",
    "c_plain_fp32_lora": "(c) plain PyTorch fp32 LoRA loop, length-grouped batches, full logits",
}
LEVERS = {
    "lever_no_length_grouping": "sqlora defaults without length grouping",
    "lever_grad_checkpointing": "sqlora defaults with gradient checkpointing on",
    "lever_fp32_compute": "sqlora defaults in fp32 (no bf16 autocast, which is the default on native-bf16 CPUs)",
    "lever_bf16_compute": "sqlora defaults with bf16 autocast forced (emulated on CPUs without native bf16)",
    "lever_micro_batch_1": "sqlora defaults as batch 1 x grad-accum 16 (same 16 rows per optimizer step)",
    "lever_fp32_micro_batch_2": "sqlora defaults in fp32 as batch 2 x grad-accum 8 (same 16 rows per optimizer step)",
    "lever_release_memory": "sqlora defaults with --release-memory (freed activation memory given back to the OS)",
    "lever_system_allocator": "sqlora defaults on the system allocator (SQLORA_ALLOCATOR=system: glibc malloc)",
    "lever_fp32_system_allocator": "sqlora defaults in fp32 on the system allocator (glibc malloc)",
}
SYSTEM_ALLOCATOR_LEVERS = {"lever_system_allocator": "b_sqlora", "lever_fp32_system_allocator": "lever_fp32_compute"}
PLAIN_VARIANTS = ("a_article_plain", "c_plain_fp32_lora")
BASELINE = "baseline_defaults"
BASELINE_DESCRIPTION = "sqlora train defaults of the --baseline-tree checkout, same rows"


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def load_rows(examples: int):
    from sqlora.data.loaders import load_examples

    return load_examples(DATA).examples[:examples]


def run_sqlora(examples: int, **overrides) -> dict:
    import tempfile

    from sqlora.training import TrainConfig, train

    rows = load_rows(examples)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.jsonl"
        data.write_text(
            "\n".join(json.dumps({"question": r.question, "context": r.context, "answer": r.sql}) for r in rows)
        )
        config = TrainConfig(
            data=str(data),
            output=str(Path(tmp) / "run"),
            max_steps=examples // 16,
            validation_fraction=0.0,
            eval_steps=0,
            save_steps=0,
            logging_steps=1000,
            **overrides,
        )
        summary = train(config)
    result = {"tokens": summary["tokens"], "seconds": summary["elapsed_s"], "final_loss": summary["final_loss"]}
    return {**result, "threads": summary.get("threads"), "precision": summary.get("precision")}


def run_article_plain(examples: int) -> dict:
    """The usual way: transformers Trainer, PEFT, bitsandbytes, fixed 512 padding, checkpointing on."""
    import tempfile

    from datasets import Dataset
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import Trainer, TrainingArguments

    from sqlora.models.loading import load_model, load_tokenizer
    from sqlora.prompts.templates import ARTICLE_TEMPLATE

    tokenizer = load_tokenizer(None)
    texts = [ARTICLE_TEMPLATE.format(schema=r.context, question=r.question, sql=r.sql) for r in load_rows(examples)]
    encoded = tokenizer(texts, padding="max_length", max_length=512, truncation=True)
    labels = [
        [t if m else -100 for t, m in zip(ids, mask, strict=True)]
        for ids, mask in zip(encoded.input_ids, encoded.attention_mask, strict=True)
    ]
    dataset = Dataset.from_dict({**encoded, "labels": labels})
    model = prepare_model_for_kbit_training(
        load_model(None, quantize=True, device="cpu"), use_gradient_checkpointing=True
    )
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.1, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = get_peft_model(model, lora)
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=4,
            gradient_accumulation_steps=4,
            learning_rate=2e-4,
            warmup_steps=100,
            max_steps=examples // 16,
            logging_steps=10,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=dataset)
        started = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - started
    real_tokens = sum(sum(mask) for mask in encoded.attention_mask)
    return {"tokens": real_tokens, "seconds": round(seconds, 1), "final_loss": result.training_loss}


def run_plain_lora(examples: int) -> dict:
    """The strongest simple baseline: fp32 LoRA, a hand-written loop, length-grouped batches, full logits."""
    import torch
    from peft import LoraConfig, get_peft_model

    from sqlora.models.loading import load_model, load_tokenizer
    from sqlora.training.features import encode_example
    from sqlora.training.sampler import EpochLengthGroupedSampler

    tokenizer = load_tokenizer(None)
    features = [encode_example(r, tokenizer) for r in load_rows(examples)]
    model = load_model(None, device="cpu", dtype=torch.float32)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.1, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    model = get_peft_model(model, lora)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    order = list(EpochLengthGroupedSampler(16, [len(f) for f in features], 42))
    batches = [order[i : i + 4] for i in range(0, len(order), 4)]
    tokens, losses = 0, []
    started = time.perf_counter()
    for index, batch_ids in enumerate(batches[: (examples // 16) * 4]):
        rows = [features[i] for i in batch_ids]
        width = max(len(f) for f in rows)
        ids = torch.tensor([f.input_ids + [tokenizer.pad_token_id] * (width - len(f)) for f in rows])
        labels = torch.tensor([f.labels + [-100] * (width - len(f)) for f in rows])
        mask = torch.tensor([[1] * len(f) + [0] * (width - len(f)) for f in rows])
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        (out.loss / 4).backward()
        losses.append(float(out.loss.detach()))
        tokens += int(mask.sum())
        if index % 4 == 3:
            optimizer.step()
            optimizer.zero_grad()
    return {"tokens": tokens, "seconds": round(time.perf_counter() - started, 1), "final_loss": losses[-1]}


SQLORA_VARIANTS = {
    "b_sqlora": {},
    "sqlora_fp32_lora": {"quantize": False, "mixed_precision": "no"},
    "lever_no_length_grouping": {"length_grouping": False},
    "lever_grad_checkpointing": {"gradient_checkpointing": "on"},
    "lever_fp32_compute": {"mixed_precision": "no"},
    "lever_bf16_compute": {"mixed_precision": "bf16"},
    "lever_micro_batch_1": {"batch_size": 1, "grad_accum": 16},
    "lever_fp32_micro_batch_2": {"mixed_precision": "no", "batch_size": 2, "grad_accum": 8},
    "lever_release_memory": {"release_memory": True},
}


def run_variant(name: str, examples: int) -> dict:
    from sqlora.training.allocator import active_allocator

    if name == "a_article_plain":
        result = run_article_plain(examples)
    elif name == "c_plain_fp32_lora":
        result = run_plain_lora(examples)
    else:
        result = run_sqlora(examples, **SQLORA_VARIANTS[name])
    result["tokens_per_s"] = round(result["tokens"] / max(result["seconds"], 1e-9), 1)
    result["peak_memory_bytes"] = peak_rss()
    result["examples"] = examples
    result["allocator"] = active_allocator()
    return result


def variant_command(name: str, examples: int, baseline: Path | None) -> tuple[list[str], dict]:
    """The command (and environment) that runs one variant in its own process."""
    import os

    if name == BASELINE:  # the other checkout's own bench, its own code first on the path
        script = baseline / "bench" / "train_bench.py"
        env = {**os.environ, "PYTHONPATH": str(baseline)}
        return [sys.executable, str(script), "--variant", "b_sqlora", "--examples", str(examples)], env
    variant = SYSTEM_ALLOCATOR_LEVERS.get(name, name)
    command = [sys.executable, __file__, "--variant", variant, "--examples", str(examples)]
    if name in PLAIN_VARIANTS or name in SYSTEM_ALLOCATOR_LEVERS:
        return command, dict(os.environ)
    # sqlora's rows run as `sqlora train` does: with the allocator its training commands pick at start
    from sqlora.training.allocator import jemalloc_environment

    return command, jemalloc_environment(["sqlora", "train"]) or dict(os.environ)


def median_run(runs: list[dict]) -> dict:
    """The run with the median speed, with every run's speed and peak memory alongside."""
    ordered = sorted(runs, key=lambda r: r["tokens_per_s"])
    result = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        result["tokens_per_s_runs"] = [r["tokens_per_s"] for r in runs]
        result["peak_memory_bytes_runs"] = [r["peak_memory_bytes"] for r in runs]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", help="run one variant in this process and print its JSON")
    parser.add_argument("--examples", type=int, default=192, help="rows per variant (multiple of 16)")
    parser.add_argument("--plain-examples", type=int, default=32, help="rows for the slow variant (a)")
    parser.add_argument("--levers", action="store_true", help="also measure each efficiency lever")
    parser.add_argument("--only", nargs="*", help="extra variants/levers to run besides (a), (b) and (c)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds over all variants; the median run is kept")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--baseline-tree", type=Path, help="another checkout whose `sqlora train` defaults to add")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.examples)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    names = list(VARIANTS) + (list(LEVERS) if args.levers else []) + ([BASELINE] if args.baseline_tree else [])
    if args.only is not None:
        unknown = set(args.only) - set(VARIANTS) - set(LEVERS)
        if unknown:
            raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
        names = ["a_article_plain", "b_sqlora", "c_plain_fp32_lora", *args.only]
        names += [BASELINE] if args.baseline_tree else []
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for round_index in range(args.repeats):  # rounds interleave the variants, so a noisy minute hits them all
        for name in names:
            examples = args.plain_examples if name == "a_article_plain" else args.examples
            console.log(f"round {round_index + 1}/{args.repeats}: running {name} on {examples} rows ...")
            command, env = variant_command(name, examples, args.baseline_tree)
            proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
            if proc.returncode != 0:
                console.print(proc.stderr[-3000:])
                raise SystemExit(f"variant {name} failed")
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    results = {name: median_run(name_runs) for name, name_runs in runs.items()}
    for name, result in results.items():
        result["description"] = {**VARIANTS, **LEVERS, BASELINE: BASELINE_DESCRIPTION}[name]

    a, b, c = results["a_article_plain"], results["b_sqlora"], results["c_plain_fp32_lora"]
    targets = {
        "b_vs_a_tokens_per_s": round(b["tokens_per_s"] / a["tokens_per_s"], 2),
        "b_vs_c_tokens_per_s": round(b["tokens_per_s"] / c["tokens_per_s"], 2),
        "b_vs_c_peak_memory": round(b["peak_memory_bytes"] / c["peak_memory_bytes"], 2),
    }
    if BASELINE in results:
        base = results[BASELINE]
        targets["b_vs_baseline_tokens_per_s"] = round(b["tokens_per_s"] / base["tokens_per_s"], 2)
        targets["b_vs_baseline_peak_memory"] = round(b["peak_memory_bytes"] / base["peak_memory_bytes"], 2)
    table = Table(title="Training throughput (real tokens) and peak memory, CPU, embedded SmolLM2-135M")
    for column in ("variant", "rows", "real tokens/s", "peak RSS (MiB)", "final loss"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for r in results.values():
        table.add_row(
            r["description"],
            str(r["examples"]),
            f"{r['tokens_per_s']:.1f}",
            f"{r['peak_memory_bytes'] / 2**20:.0f}",
            f"{r['final_loss']:.3f}",
        )
    console.print(table)
    console.print(targets)
    from sqlora.training.hardware import machine_facts

    report = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "python " + " ".join(sys.argv),
        "machine": machine_facts(),
        "results": results,
        "ratios": targets,
        "targets": {
            "b_vs_a_tokens_per_s": ">= 10",
            "b_vs_c_tokens_per_s": ">= 1",
            "b_vs_c_peak_memory": "<= 0.7",
            "b_vs_baseline_tokens_per_s": ">= 0.95",
            "b_vs_baseline_peak_memory": "<= 1.05",
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    console.print(f"written to {args.output}")


if __name__ == "__main__":
    main()
