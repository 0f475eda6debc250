"""End-to-end training runs on the tiny model: outputs, falling loss, early stopping, merge, resume, 2 processes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from sqlora.training.allocator import jemalloc_library
from sqlora.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SUBPROCESS_TIMEOUT = 300


def write_rows(source: Path, target: Path, count: int, start: int = 0) -> Path:
    """The rows [start, start+count) of a JSON-lines file."""
    with source.open() as handle:
        lines = [line for _, line in zip(range(start + count), handle, strict=False)][start:]
    target.write_text("".join(lines))
    return target


def write_config(path: Path, **values) -> Path:
    """A YAML config: one thread per process keeps runs fast and deterministic on shared CPUs."""
    path.write_text(yaml.safe_dump({"threads": 1, **values}))
    return path


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def cli(*args: str) -> None:
    """Run ``sqlora`` in-process; fail with its output when it fails."""
    from sqlora.cli.main import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exit_code != 0:
        raise AssertionError(f"sqlora {' '.join(map(str, args))} failed ({result.exit_code}):\n{result.output}") from (
            result.exception
        )


def losses(history: list[dict]) -> dict[int, float]:
    return {h["step"]: h["loss"] for h in history if "loss" in h}


# ---------------------------------------------------------------- a shared quantized run


@pytest.fixture(scope="module")
def data8(tmp_path_factory, sql_create_context_path) -> Path:
    return write_rows(sql_create_context_path, tmp_path_factory.mktemp("data") / "train8.jsonl", 8)


@pytest.fixture(scope="module")
def quantized_run(tmp_path_factory, data8, tiny_model_dir) -> Path:
    """12 QLoRA steps over the same 8 rows (one batch) at a high learning rate."""
    run = tmp_path_factory.mktemp("run") / "q"
    config = write_config(tmp_path_factory.mktemp("cfg") / "q.yaml", lora_dropout=0.0)
    threads = torch.get_num_threads()
    try:
        cli(
            "train", "--config", config, "--data", data8, "--max-steps", 12, "--output", run, "--model", tiny_model_dir,
            "--batch-size", 8, "--grad-accum", 1, "--lr", 3e-3, "--warmup-steps", 0, "--logging-steps", 1,
            "--save-steps", 3, "--eval-steps", 0,
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return run


def test_train_writes_run_directory(quantized_run: Path, data8: Path, tiny_model_dir: Path) -> None:
    assert (quantized_run / "adapter_config.json").exists()
    adapter = load_file(str(quantized_run / "adapter_model.safetensors"))
    assert adapter and all("lora_" in name for name in adapter)
    assert any("lora_B" in name and tensor.abs().sum() > 0 for name, tensor in adapter.items())

    config = TrainConfig.from_yaml(quantized_run / "train_config.yaml")
    assert config.max_steps == 12 and config.batch_size == 8 and config.learning_rate == 3e-3
    assert config.data == str(data8) and config.model == str(tiny_model_dir) and config.quantize
    assert TrainConfig.from_dict(config.to_dict()) == config

    summary = json.loads((quantized_run / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["processes"] == 1 and summary["quantized"] is True
    assert summary["tokens"] > 0 and summary["tokens_per_s"] > 0 and summary["peak_memory_bytes"] > 0
    assert summary["final_loss"] == losses(summary["history"])[12]
    assert summary["examples"]["train_encoded"] + summary["examples"]["validation"] == 8

    meta = json.loads((quantized_run / "sqlora.json").read_text())
    assert meta["base_model"] == str(tiny_model_dir) and meta["prompt_style"] == "article"

    log = [json.loads(line) for line in (quantized_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == list(range(1, 13))
    assert list(quantized_run.glob("runs/*/events.out.tfevents.*"))  # TensorBoard through report_to
    # checkpoints every 3 steps (the Trainer's), the newest save_total_limit=2 kept
    assert sorted(p.name for p in quantized_run.glob("checkpoint-*")) == ["checkpoint-12", "checkpoint-9"]
    assert (quantized_run / "checkpoint-9" / "adapter_model.safetensors").exists()


def _assert_loss_falls(history: list[dict]) -> None:
    curve = list(losses(history).values())
    assert len(curve) >= 10
    assert curve[-1] < curve[0] - 0.1, curve  # a random tiny model only has ~0.3 nats to gain here
    assert curve[-1] <= min(curve[:3]), curve


def test_loss_falls_quantized(quantized_run: Path) -> None:
    _assert_loss_falls(json.loads((quantized_run / "summary.json").read_text())["history"])


def test_loss_falls_without_quantization(tmp_path: Path, data8: Path, tiny_model_dir: Path) -> None:
    config = write_config(tmp_path / "c.yaml", lora_dropout=0.0)
    cli(
        "train", "--config", config, "--data", data8, "--max-steps", 12, "--output", tmp_path / "run",
        "--model", tiny_model_dir, "--batch-size", 8, "--grad-accum", 1, "--lr", 3e-3, "--warmup-steps", 0,
        "--logging-steps", 1, "--save-steps", 0, "--eval-steps", 0, "--no-quantize",
    )  # fmt: skip
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["quantized"] is False
    _assert_loss_falls(summary["history"])


def test_early_stopping(tmp_path: Path, data8: Path, sql_create_context_path: Path, tiny_model_dir: Path) -> None:
    """An absurd learning rate makes the validation loss rise; patience 1 stops the run early."""
    valid = write_rows(sql_create_context_path, tmp_path / "valid.jsonl", 12, start=48)
    config = write_config(tmp_path / "c.yaml", eval_data=str(valid))
    cli(
        "train", "--config", config, "--data", data8, "--max-steps", 10, "--output", tmp_path / "run",
        "--model", tiny_model_dir, "--batch-size", 4, "--grad-accum", 1, "--lr", 0.5, "--warmup-steps", 0,
        "--eval-steps", 1, "--save-steps", 0, "--early-stopping-patience", 1,
    )  # fmt: skip
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    evals = [h["eval_loss"] for h in summary["history"] if "eval_loss" in h]
    assert summary["steps"] < 10
    assert summary["early_stopped"] is True
    assert len(evals) == summary["steps"] and evals[-1] >= min(evals[:-1])
    assert summary["best_eval_loss"] == min(evals)
    assert (tmp_path / "run" / "adapter_model.safetensors").exists()


def test_time_budget_stops_the_run_and_saves(tmp_path: Path, data8: Path, tiny_model_dir: Path) -> None:
    """--max-minutes ends the run at the end of the step that passes the budget; the adapter is still written."""
    config = write_config(tmp_path / "c.yaml")
    cli(
        "train", "--config", config, "--data", data8, "--max-steps", 500, "--output", tmp_path / "run",
        "--model", tiny_model_dir, "--batch-size", 2, "--grad-accum", 1, "--warmup-steps", 0,
        "--save-steps", 0, "--eval-steps", 0, "--max-minutes", 0.002,
    )  # fmt: skip
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert 1 <= summary["steps"] < 500
    assert summary["stopped_by_time_budget"] is True
    assert summary["final_loss"] == losses(summary["history"])[summary["steps"]]  # the last step is logged
    assert (tmp_path / "run" / "adapter_model.safetensors").exists()


def test_time_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_minutes"):
        TrainConfig(max_minutes=0)


@pytest.mark.parametrize("quantize", [True, False], ids=["qlora", "lora"])
def test_evaluation_does_not_change_training(
    quantize: bool, tmp_path: Path, data8: Path, sql_create_context_path: Path, tiny_model_dir: Path
) -> None:
    """Validation in the middle of a run leaves the training losses bit-identical.

    Regression: on CPUs with AVX512-BF16, bitsandbytes 0.50 repacks 4-bit weights at the first eval-mode forward,
    and training forwards after that ran a kernel without autograd, silently dropping gradients.
    """
    valid = write_rows(sql_create_context_path, tmp_path / "valid.jsonl", 8, start=48)
    curves = []
    for eval_steps in (0, 1):
        config = write_config(tmp_path / f"c{eval_steps}.yaml", eval_data=str(valid), lora_dropout=0.0)
        cli(
            "train", "--config", config, "--data", data8, "--max-steps", 4, "--output", tmp_path / f"run{eval_steps}",
            "--model", tiny_model_dir, "--batch-size", 4, "--grad-accum", 1, "--lr", 3e-3, "--warmup-steps", 0,
            "--logging-steps", 1, "--save-steps", 0, "--eval-steps", eval_steps, *([] if quantize else ["--no-quantize"]),
        )  # fmt: skip
        curves.append(losses(json.loads((tmp_path / f"run{eval_steps}" / "summary.json").read_text())["history"]))
    assert curves[0] == curves[1]


def test_merge_of_a_qlora_adapter_computes_what_was_trained(
    quantized_run: Path, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """The adapter is folded into the dequantized NF4 weights it learned against, not the original weights."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sqlora.models.loading import load_model

    cli("merge", quantized_run, "--output", tmp_path / "merged")
    merged_dir = tmp_path / "merged"
    assert not (merged_dir / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    assert not any("lora" in name for name, _ in merged.named_parameters())
    assert "quantization_config" not in json.loads((merged_dir / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    ids = tokenizer("Given the following database schema:\nCREATE TABLE head (age INTEGER)", return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    trained = load_model(str(tiny_model_dir), quantize=True, device="cpu", adapter=str(quantized_run))
    with torch.no_grad():
        base_logits = base(**ids).logits
        on_original = PeftModel.from_pretrained(base, str(quantized_run)).eval()(**ids).logits
        trained_logits = trained(**ids).logits
        merged_logits = merged(**ids).logits
    # bitsandbytes' CPU 4-bit matmul rounds differently from a float32 matmul on the same dequantized weights
    # (~3e-3 on these logits even without an adapter), so "equal" means well within that
    to_trained = (merged_logits - trained_logits).abs().max()
    assert to_trained < 5e-3
    assert to_trained < 0.2 * (merged_logits - on_original).abs().max()  # not the adapter on the original weights
    assert (merged_logits - base_logits).abs().max() > 1e-3  # the adapter really changed the model
    meta = json.loads((merged_dir / "sqlora.json").read_text())
    assert meta["base_model"] == str(merged_dir) and meta["merged_from"] == str(quantized_run)


# ---------------------------------------------------------------- kill -9 and resume


def _train_command(config: Path, data: Path, output: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "sqlora.cli.main", "train", "--config", str(config), "--data", str(data),
        "--output", str(output), "--model", str(model), *extra,
    ]  # fmt: skip


RESUME_ARGS = (
    "--max-steps", "12", "--batch-size", "2", "--grad-accum", "2", "--lr", "1e-3", "--warmup-steps", "2",
    "--save-steps", "4", "--logging-steps", "1", "--eval-steps", "0", "--lora-dropout", "0.1",
)  # fmt: skip


def _run(command: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def test_kill_and_resume_is_exact(tmp_path: Path, sql_create_context_path: Path, tiny_model_dir: Path) -> None:
    """kill -9 after checkpoint-8, resume, and get the uninterrupted run's weights and losses.

    40 rows in batches of 2 with 2 accumulation steps make 10 steps an epoch, so the 12 steps also cross an
    epoch boundary; dropout is on, so the RNG state must be restored too.
    """
    data = write_rows(sql_create_context_path, tmp_path / "train.jsonl", 40)
    config = write_config(tmp_path / "c.yaml", validation_fraction=0.0, save_total_limit=3)

    straight = tmp_path / "straight"
    _run(_train_command(config, data, straight, tiny_model_dir, *RESUME_ARGS))

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _train_command(config, data, killed, tiny_model_dir, *RESUME_ARGS),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT
    try:
        while not (killed / "checkpoint-8" / "trainer_state.json").exists():  # written last
            assert process.poll() is None, "the run ended before checkpoint-8 appeared"
            assert time.monotonic() < deadline, "no checkpoint-8 in time"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists()  # it really died mid-run

    _run(_train_command(config, data, killed, tiny_model_dir, *RESUME_ARGS, "--resume"))

    expected = json.loads((straight / "summary.json").read_text())
    resumed = json.loads((killed / "summary.json").read_text())
    assert resumed["steps"] == expected["steps"] == 12
    assert resumed["epochs_completed"] == expected["epochs_completed"] == 1
    assert resumed["tokens"] == expected["tokens"]
    expected_losses, resumed_losses = losses(expected["history"]), losses(resumed["history"])
    assert sorted(resumed_losses) == list(range(1, 13))
    for step in range(9, 13):
        assert resumed_losses[step] == expected_losses[step], step  # bit-exact: one thread, same kernels
    assert resumed["final_loss"] == expected["final_loss"]
    # the command restarted itself on jemalloc where the machine has it (sqlora.training.allocator)
    assert resumed["allocator"] == expected["allocator"] == ("jemalloc" if jemalloc_library() else "system")

    want = load_file(str(straight / "adapter_model.safetensors"))
    got = load_file(str(killed / "adapter_model.safetensors"))
    assert want.keys() == got.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name
    # and the checkpoint-8 weights differ from the final ones (training went on after the resume)
    at_8 = load_file(str(killed / "checkpoint-8" / "adapter_model.safetensors"))
    assert any(not torch.equal(at_8[name], got[name]) for name in got)


# ---------------------------------------------------------------- two processes (gloo on CPU)


def _rank_summaries(log_dir: Path) -> dict[int, dict]:
    """The summary JSON each rank printed on stdout, from torchrun's per-rank log files."""
    found = {}
    for path in log_dir.rglob("stdout.log"):
        rank = int(path.parent.name)
        text = path.read_text()
        match = re.search(r"^\{\n.*?^\}$", text, flags=re.S | re.M)
        assert match, text[-3000:]
        found[rank] = json.loads(match.group(0))
    return found


def _expected_tokens(config: TrainConfig, batches: int) -> int:
    """Real tokens in the first ``batches`` micro-batches of the run's length-grouped order (all ranks together)."""
    from sqlora.models.loading import load_tokenizer
    from sqlora.training.data import prepare_data
    from sqlora.training.sampler import EpochLengthGroupedSampler

    train = prepare_data(config, load_tokenizer(config.model)).train
    sampler = EpochLengthGroupedSampler(config.batch_size, [len(f) for f in train], config.seed)
    order = list(sampler)
    return sum(len(train[i]) for i in order[: batches * config.batch_size])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_training(tmp_path: Path, sql_create_context_path: Path, tiny_model_dir: Path) -> None:
    """accelerate launch with configs/accelerate/cpu-2proc.yaml: 2 gloo ranks train 4-bit on different shards."""
    data = write_rows(sql_create_context_path, tmp_path / "train.jsonl", 48)
    config_path = write_config(tmp_path / "c.yaml", validation_fraction=0.0)
    output, logs = tmp_path / "run", tmp_path / "logs"
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "configs" / "accelerate" / "cpu-2proc.yaml"),
        "--main_process_port", str(_free_port()), "--log_dir", str(logs), "--tee", "3",
        "-m", "sqlora.cli.main", "train", "--config", str(config_path), "--data", str(data),
        "--output", str(output), "--model", str(tiny_model_dir), "--max-steps", "4", "--batch-size", "2",
        "--grad-accum", "1", "--logging-steps", "1", "--save-steps", "2", "--eval-steps", "0",
    ]  # fmt: skip
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    summaries = _rank_summaries(logs)

    summary = json.loads((output / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 4 and summary["quantized"] is True
    assert sorted(summaries) == [0, 1] and all(s["processes"] == 2 for s in summaries.values())
    # rank 0 alone writes: one log line per step (not two), the checkpoints, one adapter
    log = [json.loads(line) for line in (output / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert (output / "adapter_model.safetensors").exists()
    assert {k: v for k, v in summary.items() if k != "history"} == {
        k: v for k, v in summaries[0].items() if k != "history"
    }
    # the ranks trained on different shards: together they saw the first 8 micro-batches of the order,
    # not the first 4 twice
    config = TrainConfig.from_yaml(output / "train_config.yaml")
    assert summaries[0]["tokens"] == summaries[1]["tokens"] == _expected_tokens(config, 8)
    assert _expected_tokens(config, 8) != 2 * _expected_tokens(config, 4)
