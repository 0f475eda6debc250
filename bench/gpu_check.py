"""GPU proof of `sqlora train` at the article's scale, offline, on one CUDA GPU.

Builds a random-weight model of Qwen1.5-4B's architecture (configs/models/qwen1.5-4b-architecture.json) with the
embedded SmolLM2 tokenizer, then, each step in its own process:

  attention     SDPA's gradients for a left-padded batch under transformers' mask and sqlora's (in-process)
  fp16 / bf16   the article's recipe (sqlora/configs/article-qwen1.5-4b.yaml: QLoRA NF4, r=16, alpha=32,
                q/k/v/o, batch 4 x grad-accum 4, lr 2e-4) for 20 steps on the same 16 rows, warmup 2
  resume        the fp16 run continued from its step-10 checkpoint (`--resume`) to step 20
  zero3 / fsdp  a few steps under DeepSpeed ZeRO-3 and FSDP (configs/deepspeed/zero3.json, configs/fsdp/qlora.yaml),
                one process each (torchrun)
  merge         `merge_adapter` of the bf16 run in bf16 on the GPU, then 4 answers from the merged model
  grpo          `sqlora train --method grpo` for 4 steps on a SQLite database of the rows' tables: TRL left-pads
                the sampled batch, so its loss and gradient norm must stay finite as the supervised ones do

and asserts finite falling loss, non-zero LoRA B weights, checkpoints written; prints a table and writes JSON.

    bash bench/gpu_check.sh WHEEL_DIR            # installs the wheels the machine lacks, then runs this
    python bench/gpu_check.py --tokenizer DIR --output bench/results/gpu_check.json
    python bench/gpu_check.py --tiny ...          # 2 small layers: tries the whole script on a CPU in a minute
    python bench/gpu_check.py --only bf16 fsdp    # some steps (resume needs fp16's run, merge_generate bf16's)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "configs" / "models" / "qwen1.5-4b-architecture.json"
ARTICLE = ROOT / "sqlora" / "configs" / "article-qwen1.5-4b.yaml"

# 16 hand-written rows: one optimizer step (batch 4 x grad-accum 4) sees all of them, so the loss can only fall.
ROWS = [
    ("How many heads are older than 56?", "CREATE TABLE head (age INTEGER)",
     "SELECT COUNT(*) FROM head WHERE age > 56"),
    ("List the names of all singers.", "CREATE TABLE singer (name VARCHAR)", "SELECT name FROM singer"),
    ("What is the average price?", "CREATE TABLE product (price REAL)", "SELECT AVG(price) FROM product"),
    ("Which city has the most people?", "CREATE TABLE city (name VARCHAR, pop INTEGER)",
     "SELECT name FROM city ORDER BY pop DESC LIMIT 1"),
    ("Count the orders per customer.", "CREATE TABLE orders (customer_id INTEGER)",
     "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id"),
    ("Show distinct colors.", "CREATE TABLE car (color VARCHAR)", "SELECT DISTINCT color FROM car"),
    ("What is the highest salary?", "CREATE TABLE employee (salary INTEGER)", "SELECT MAX(salary) FROM employee"),
    ("Find students named Ann.", "CREATE TABLE student (name VARCHAR)", "SELECT * FROM student WHERE name = 'Ann'"),
    ("How many ships were lost?", "CREATE TABLE ship (fate VARCHAR)", "SELECT COUNT(*) FROM ship WHERE fate = 'lost'"),
    ("Total budget of all departments?", "CREATE TABLE department (budget REAL)",
     "SELECT SUM(budget) FROM department"),
    ("List titles after 2000.", "CREATE TABLE film (title VARCHAR, year INTEGER)",
     "SELECT title FROM film WHERE year > 2000"),
    ("Which teams have more than 3 wins?", "CREATE TABLE team (name VARCHAR, wins INTEGER)",
     "SELECT name FROM team WHERE wins > 3"),
    ("What is the youngest age?", "CREATE TABLE person (age INTEGER)", "SELECT MIN(age) FROM person"),
    ("Names of authors sorted.", "CREATE TABLE author (name VARCHAR)", "SELECT name FROM author ORDER BY name"),
    ("How many airports per country?", "CREATE TABLE airport (country VARCHAR)",
     "SELECT country, COUNT(*) FROM airport GROUP BY country"),
    ("Show the ids of rooms with 2 beds.", "CREATE TABLE room (id INTEGER, beds INTEGER)",
     "SELECT id FROM room WHERE beds = 2"),
]  # fmt: skip
QUESTIONS = ROWS[:4]
# resume needs fp16's run, merge_generate bf16's
STEPS = ["attention", "fp16", "bf16", "resume", "merge_generate", "grpo", "zero3", "fsdp"]


def build_model(target: Path, tokenizer_dir: str, tiny: bool) -> dict:
    """Random weights in the architecture's shape (bf16, on the GPU when there is one), saved with the tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    values = json.loads(ARCHITECTURE.read_text())
    if tiny:
        values.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
        values.update(num_key_value_heads=4)
    config = AutoConfig.for_model(values.pop("model_type"), **values)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(target)
    return {"parameters": model.num_parameters(), "layers": config.num_hidden_layers, "hidden": config.hidden_size}


def train_command(model: Path, data: Path, output: Path, precision: str, steps: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "sqlora.cli.main", "train", "--config", str(ARTICLE), "--model", str(model),
        "--data", str(data), "--output", str(output), "--max-steps", str(steps), "--warmup-steps", "2",
        "--mixed-precision", precision, "--logging-steps", "1", "--save-steps", "10", "--eval-steps", "0",
        "--validation-fraction", "0", "--report-to", "none", *extra,
    ]  # fmt: skip


def torchrun() -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_port", "29561"]


def run(name: str, command: list[str], log, timeout: int) -> tuple[bool, float, str]:
    """Run one step; its output goes to the shared log. Returns (ok, seconds, last error line)."""
    started = time.perf_counter()
    log.write(f"\n===== {name}: {' '.join(command)}\n")
    log.flush()
    try:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, timeout=timeout)
        ok, why = done.returncode == 0, f"exit {done.returncode}"
    except subprocess.TimeoutExpired:
        ok, why = False, f"timed out after {timeout} s"
    log.flush()
    return ok, round(time.perf_counter() - started, 1), "" if ok else why


def check_run(output: Path, steps: int, expect_fall: bool) -> dict:
    """Loss finite (and falling), LoRA B non-zero, checkpoints written, peak GPU memory from the summary."""
    from safetensors.torch import load_file

    summary = json.loads((output / "summary.json").read_text())
    losses = [h["loss"] for h in summary["history"] if "loss" in h]
    adapter = load_file(str(output / "adapter_model.safetensors"))
    lora_b = [t for name, t in adapter.items() if "lora_B" in name]
    checks = {
        "steps": summary["steps"] == steps,
        "finite_loss": bool(losses) and all(math.isfinite(x) for x in losses),
        "lora_b_nonzero": bool(lora_b) and all(float(t.float().abs().sum()) > 0 for t in lora_b),
        "checkpoint_written": (output / "checkpoint-10").is_dir() if steps >= 10 else True,
    }
    if expect_fall and len(losses) >= 4:
        checks["loss_falls"] = sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    return {
        "checks": checks,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "losses": losses,
        "tokens_per_s": summary["tokens_per_s"],
        "peak_gpu_memory_gib": round(summary["peak_memory_bytes"] / 2**30, 2),
        "precision": summary.get("precision"),
    }


def merge_and_answer(adapter: Path, target: Path) -> dict:
    import torch

    from sqlora.inference.generator import SQLGenerator
    from sqlora.training.merge import merge_adapter

    device = "cuda" if torch.cuda.is_available() else "cpu"
    merge_adapter(adapter, target, dtype=torch.bfloat16, device=device)
    generator = SQLGenerator(model=str(target), precision="bf16", device=device, max_new_tokens=24)
    answers = [generator.generate(question, schema).sql for question, schema, _ in QUESTIONS]
    return {
        "checks": {"four_answers": len(answers) == 4 and all(isinstance(a, str) for a in answers)},
        "answers": answers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", help="tokenizer folder (default: the embedded SmolLM2's)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/sqlora-gpu-check"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "gpu_check.json")
    parser.add_argument("--log", type=Path, help="all steps' output (default: beside --output)")
    parser.add_argument("--tiny", action="store_true", help="2 small layers: try the script quickly, on CPU too")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-timeout", type=int, default=240, help="seconds each training step may take")
    parser.add_argument("--only", nargs="+", choices=STEPS, default=STEPS, help="run these steps, in this order")
    args = parser.parse_args()

    import torch

    from sqlora.training.hardware import machine_facts

    gpu = torch.cuda.is_available()
    if args.tokenizer is None:
        from sqlora.models.embedded import embedded_model_dir

        args.tokenizer = str(embedded_model_dir())
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    data = args.work / "rows.jsonl"
    data.write_text("".join(json.dumps({"question": q, "context": c, "answer": a}) + "\n" for q, c, a in ROWS))
    model = args.work / "model"
    log_path = args.log or args.output.with_suffix(".log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine": machine_facts(), "date": time.strftime("%Y-%m-%d"), "tiny": args.tiny, "steps": {}}
    for package in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "deepspeed"):
        try:
            report["machine"][package] = __import__(package).__version__
        except Exception as err:  # noqa: BLE001 - a missing engine is reported, not fatal
            report["machine"][package] = f"unavailable: {type(err).__name__}"
    started = time.perf_counter()
    report["model"] = build_model(model, args.tokenizer, args.tiny)
    report["model"]["build_s"] = round(time.perf_counter() - started, 1)
    steps = args.steps
    engines = {
        "zero3": ["--deepspeed", str(ROOT / "configs" / "deepspeed" / "zero3.json")],
        "fsdp": ["--fsdp", str(ROOT / "configs" / "fsdp" / "qlora.yaml")],
    }
    skipped = {"zero3": "needs a GPU and deepspeed", "fsdp": "needs a GPU (accelerate refuses FSDP on CPU)"}
    with log_path.open("w") as log:
        for name in args.only:
            output = args.work / name
            if name == "attention":
                report["steps"][name] = attention_step()
            elif name == "merge_generate":
                report["steps"][name] = merge_step(args.work / "bf16", args.work / "merged")
            elif name == "grpo":
                command = grpo_command(model, args.work, output, "bf16" if gpu else "no")
                report["steps"][name] = grpo_step(command, output, log, args.step_timeout)
            elif name in engines and not gpu:
                report["steps"][name] = {"skipped": skipped[name]}
            else:
                precision = name if name in ("fp16", "bf16") else "fp16" if name == "resume" else "bf16"
                precision = precision if gpu else "no"
                n_steps = 4 if name in engines else steps
                command = train_command(model, data, output, precision, n_steps, *engines.get(name, []))
                if name in engines:
                    command = [*torchrun(), *command[1:]]
                if name == "resume":  # the fp16 run, rewound to its step-10 checkpoint, continued to the end
                    rewind(args.work / "fp16", output)
                    command.append("--resume")
                timeout = args.step_timeout if name not in engines else min(args.step_timeout, 180)
                report["steps"][name] = train_step(
                    name, command, output, n_steps, name in ("fp16", "bf16"), log, timeout
                )
                if name == "resume":
                    compare_resumed(report["steps"]["resume"], report["steps"].get("fp16", {}))
            save_report(report, args.output)
    print_table(report)
    print(f"written to {args.output} (log: {log_path})")


def grpo_command(model: Path, work: Path, output: Path, precision: str) -> list[str]:
    """4 GRPO steps on the rows, each with a Spider-layout SQLite database (``gpucheck``) of the rows' tables."""
    import sqlite3

    folder = work / "databases" / "gpucheck"
    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(folder / "gpucheck.sqlite") as db:
        for _, create, _ in ROWS:
            db.execute(create)
            columns = create[create.index("(") + 1 : -1].split(", ")
            for sample in (("1", "'Ann'"), ("60", "'lost'")):
                values = [sample[0] if column.split()[1] in ("INTEGER", "REAL") else sample[1] for column in columns]
                db.execute(f"INSERT INTO {create.split()[2]} VALUES ({', '.join(values)})")
    data = work / "grpo_rows.jsonl"
    data.write_text(
        "".join(json.dumps({"question": q, "context": c, "answer": a, "db_id": "gpucheck"}) + "\n" for q, c, a in ROWS)
    )
    return [
        *train_command(model, data, output, precision, 4), "--method", "grpo", "--db-dir", str(work / "databases"),
        "--batch-size", "4", "--grad-accum", "1",
        "--num-generations", "4", "--max-completion-length", "16",
    ]  # fmt: skip


def grpo_step(command: list[str], output: Path, log, timeout: int) -> dict:
    """GRPO's logged loss and gradient norm finite at every step, rewards in [0, 1], adapter written."""
    ok, seconds, why = run("grpo", command, log, timeout=timeout)
    if not ok:
        return {"ok": False, "seconds": seconds, "error": why}
    summary = json.loads((output / "summary.json").read_text())
    history = summary["history"]
    return {
        "ok": True,
        "seconds": seconds,
        "checks": {
            "steps": summary["steps"] == 4,
            "finite_loss": bool(history) and all(math.isfinite(h["loss"]) for h in history),
            "finite_grad_norm": bool(history) and all(math.isfinite(h["grad_norm"]) for h in history),
            "rewards_in_range": all(0.0 <= h["reward"] <= 1.0 for h in history),
            "adapter_written": (output / "adapter_model.safetensors").exists(),
        },
        "first_loss": history[0]["loss"] if history else None,
        "final_loss": history[-1]["loss"] if history else None,
        "grad_norms": [h["grad_norm"] for h in history],
        "peak_gpu_memory_gib": round(summary["peak_memory_bytes"] / 2**30, 2),
    }


def rewind(run_dir: Path, target: Path) -> None:
    """A copy of ``run_dir`` as it was at its step-10 checkpoint (later checkpoints, summary and log removed)."""
    shutil.copytree(run_dir, target)
    for late in [*target.glob("checkpoint-*"), target / "summary.json", target / "log.jsonl"]:
        if late.name != "checkpoint-10":
            shutil.rmtree(late) if late.is_dir() else late.unlink(missing_ok=True)


def train_step(name: str, command: list[str], output: Path, steps: int, falls: bool, log, timeout: int) -> dict:
    ok, seconds, why = run(name, command, log, timeout=timeout)
    result: dict = {"ok": ok, "seconds": seconds}
    if not ok:
        return {**result, "error": why}
    try:
        result.update(check_run(output, steps, falls))
    except Exception as err:  # noqa: BLE001 - record and go on to the next step
        result.update(ok=False, error=f"{type(err).__name__}: {err}")
    return result


def compare_resumed(resumed: dict, straight: dict) -> None:
    """The resumed run logs steps 11.. with the straight run's losses (GPU kernels may differ in the last digits)."""
    if resumed.get("losses") and straight.get("losses"):
        tail = straight["losses"][10:]
        resumed["checks"]["resumed_at_step_11"] = len(resumed["losses"]) == len(tail) + 10
        resumed["checks"]["matches_straight_run"] = all(
            abs(a - b) <= 0.02 * abs(b) for a, b in zip(resumed["losses"][10:], tail, strict=False)
        )


def attention_gradients(mask, dtype) -> dict:
    """NaN counts in SDPA's query/key/value gradients for a left-padded batch (4 x 20 heads x 64 x 128)."""
    import torch
    import torch.nn.functional as F

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    q, k, v = (torch.randn(4, 20, 64, 128, device=device, dtype=dtype, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(device))
    out.float().square().sum().backward()
    return {name: int(t.grad.isnan().sum()) for name, t in (("q", q), ("k", k), ("v", v))}


def attention_step() -> dict:
    """SDPA's gradients for a left-padded batch under transformers' mask (padding rows attend to nothing), under
    it with cuDNN's kernel excluded, and under sqlora's (`sdpa_mask_without_empty_rows`), in fp16 and bf16."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from transformers.masking_utils import sdpa_mask

    from sqlora.models.attention import sdpa_mask_without_empty_rows

    started = time.perf_counter()
    padding = torch.ones(4, 64, dtype=torch.bool)
    for row, pad in enumerate((0, 5, 17, 40)):
        padding[row, :pad] = False
    shape = {"batch_size": 4, "q_length": 64, "kv_length": 64, "attention_mask": padding}
    plain, ours = sdpa_mask(**shape), sdpa_mask_without_empty_rows(**shape)
    without_cudnn = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    result: dict = {"nan_gradients": {}}
    for dtype in (torch.float16, torch.bfloat16):
        name = str(dtype).split(".")[-1]
        for label, tensor in (("plain", plain), ("sqlora", ours)):
            result["nan_gradients"][f"{label}_{name}"] = attention_gradients(tensor, dtype)
        with sdpa_kernel(without_cudnn):  # is the NaN cuDNN's alone?
            result["nan_gradients"][f"plain_without_cudnn_{name}"] = attention_gradients(plain, dtype)
    result["checks"] = {
        "sqlora_mask_finite": all(
            not any(counts.values()) for key, counts in result["nan_gradients"].items() if key.startswith("sqlora")
        )
    }
    return {"ok": True, **result, "seconds": round(time.perf_counter() - started, 1)}


def merge_step(adapter: Path, target: Path) -> dict:
    import gc

    import torch

    started = time.perf_counter()
    try:
        result = {"ok": True, **merge_and_answer(adapter, target)}
    except Exception as err:  # noqa: BLE001
        result = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    gc.collect()
    if torch.cuda.is_available():
        result["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        torch.cuda.empty_cache()
    return {**result, "seconds": round(time.perf_counter() - started, 1)}


def save_report(report: dict, path: Path) -> None:
    """Written after every step, so a run cut short still leaves what it measured."""
    report["all_checks_pass"] = all(
        s.get("ok") and all(s.get("checks", {}).values()) for s in report["steps"].values() if "skipped" not in s
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))


def print_table(report: dict) -> None:
    machine = report["machine"]
    print(f"\n{machine.get('gpu', machine['cpu_model'])} | torch {machine['torch']} | {report['model']}")
    print(
        f"{'step':<16}{'ok':<5}{'seconds':>9}{'first loss':>12}{'final loss':>12}{'tok/s':>9}{'peak GiB':>10}  checks"
    )
    for name, step in report["steps"].items():
        if "skipped" in step:
            print(f"{name:<16}skipped: {step['skipped']}")
            continue
        failed = [k for k, v in step.get("checks", {}).items() if not v]
        checks = "all pass" if step.get("ok") and not failed else f"FAILED {failed or step.get('error')}"
        loss = [f"{step[k]:.4f}" if isinstance(step.get(k), float) else "-" for k in ("first_loss", "final_loss")]
        print(
            f"{name:<16}{'yes' if step.get('ok') else 'no':<5}{step.get('seconds', 0):>9}{loss[0]:>12}{loss[1]:>12}"
            f"{step.get('tokens_per_s', '-')!s:>9}{step.get('peak_gpu_memory_gib', '-')!s:>10}  {checks}"
        )
    print(f"all checks pass: {report['all_checks_pass']}")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
