"""Trainer callbacks: sqlora's run log, CPU heap trimming and the execution-accuracy sample."""

from __future__ import annotations

import json
import time
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from sqlora.data.record import Example
from sqlora.training.memory import trim_heap


class HeapTrimCallback(TrainerCallback):
    """Give the pages that freed small tensors leave in glibc's heap back to the OS before every micro-batch (CPU)."""

    def on_step_begin(self, args, state, control, **kwargs):
        trim_heap()

    def on_substep_end(self, args, state, control, **kwargs):
        trim_heap()


class TimeBudgetCallback(TrainerCallback):
    """Stop training at the end of the first optimizer step that finishes past the time budget."""

    def __init__(self, minutes: float) -> None:
        self.seconds = minutes * 60
        self.started = time.perf_counter()
        self.stopped_at: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.started >= self.seconds and state.global_step < state.max_steps:
            control.should_training_stop = True
            control.should_log = True
            self.stopped_at = state.global_step
        return control


class ProgressBarCallback(ProgressCallback):
    """transformers' progress bar (stderr), with the latest loss beside it instead of log dicts on stdout."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs and "loss" in logs:
            self.training_bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)


def run_record(logs: dict, step: int) -> dict | None:
    """sqlora's log record (step, loss, lr, tokens/s, eval_*) from a Trainer log entry; None if it has none."""
    record: dict = {"step": step}
    if "loss" in logs:
        record.update(loss=logs["loss"], lr=logs.get("learning_rate"), tokens_per_s=logs.get("tokens_per_s"))
    record.update({k: logs[k] for k in ("reward", "reward_std") if k in logs})  # GRPO
    skip = ("runtime", "_per_second")
    record.update({k: v for k, v in logs.items() if k.startswith("eval_") and not k.endswith(skip)})
    return record if len(record) > 1 else None


def quiet_progress(trainer) -> None:
    """Swap the Trainer's progress output (a bar, or log dicts printed on stdout when transformers' logging is
    quiet) for one progress bar on stderr that shows the loss."""
    trainer.pop_callback(ProgressCallback)
    trainer.pop_callback(PrinterCallback)
    trainer.add_callback(ProgressBarCallback)


class RunLogCallback(TrainerCallback):
    """Every log record (with real tokens/s) to ``log.jsonl`` in the run directory, and to ``history``.

    The records also go into the Trainer's ``log_history``, which checkpoints carry, so a resumed run's
    history and log file hold the steps before the checkpoint as well.
    """

    def __init__(self, output: Path) -> None:
        self.path = output / "log.jsonl"
        self.history: list[dict] = []
        self.started = time.perf_counter()
        self.tokens_at_start = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        self.tokens_at_start = state.num_input_tokens_seen
        restored = [run_record(entry, entry.get("step", 0)) for entry in state.log_history]
        self.history = [record for record in restored if record]
        if state.is_world_process_zero:
            self.path.write_text("".join(json.dumps(record) + "\n" for record in self.history))

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == state.max_steps:  # the last step is always logged, whatever logging_steps is
            control.should_log = True
        return control

    def tokens_per_s(self, state) -> float:
        elapsed = time.perf_counter() - self.started
        return round((state.num_input_tokens_seen - self.tokens_at_start) / max(elapsed, 1e-9), 1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        if "loss" in logs:
            logs["tokens_per_s"] = self.tokens_per_s(state)
            if state.log_history and state.log_history[-1].get("step") == state.global_step:
                state.log_history[-1]["tokens_per_s"] = logs["tokens_per_s"]
        record = run_record(logs, state.global_step)
        if record is None:
            return
        self.history.append(record)
        if state.is_world_process_zero:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")


class ExecutionAccuracyCallback(TrainerCallback):
    """At each validation, the model's execution accuracy on a few validation rows (real databases or test suites).

    Generation runs on the unwrapped model, so it is done in single-process and DDP runs; sharded engines skip it.
    """

    def __init__(self, rows: list[Example], prompt_style: str, db_dir: str | None, log: RunLogCallback) -> None:
        self.rows, self.prompt_style, self.db_dir, self.log = rows, prompt_style, db_dir, log

    def on_evaluate(self, args, state, control, model=None, processing_class=None, **kwargs):
        if not self.rows or not state.is_world_process_zero or model is None:
            return
        ex = execution_accuracy(model, processing_class, self.rows, self.prompt_style, self.db_dir)
        if ex is not None:
            record = {"step": state.global_step, "eval_ex": ex}
            state.log_history.append(record)
            self.log.on_log(args, state, control, logs={"eval_ex": ex})


def execution_accuracy(model, tokenizer, rows: list[Example], prompt_style: str, db_dir: str | None) -> float | None:
    """EX of the model being trained on ``rows``; the model is put back in training mode after."""
    from sqlora.evaluation.runner import evaluate
    from sqlora.inference.generator import SQLGenerator

    was_training = model.training
    model.eval()
    padding_side = tokenizer.padding_side
    generator = SQLGenerator.from_model(model, tokenizer, prompt_style, max_new_tokens=128, repair=False)
    try:
        return evaluate(rows, generator, db_dir, progress=False).aggregates.get("ex")
    finally:
        tokenizer.padding_side = padding_side
        model.train(was_training)
