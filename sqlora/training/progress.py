"""Progress bar, console log lines, TensorBoard scalars and a JSONL log for a training run."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class RunLogger:
    """Everything a run reports, written only on the main process."""

    def __init__(self, output: Path, total_steps: int, enabled: bool = True, start: int = 0) -> None:
        self.enabled = enabled
        if not enabled:
            return
        self.console = Console(stderr=True)
        self.jsonl = (output / "log.jsonl").open("a")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(output / "tensorboard"))
        except ImportError:  # tensorboard is optional at run time
            self.writer = None
        self.progress = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task = self.progress.add_task("train", total=total_steps, completed=start, info="")
        self.progress.start()

    def advance(self, step: int) -> None:
        if self.enabled:
            self.progress.update(self.task, completed=step)

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        step = record["step"]
        for key, value in record.items():
            if key != "step" and isinstance(value, int | float) and self.writer:
                self.writer.add_scalar(f"train/{key}" if key != "eval_loss" else "eval/loss", value, step)
        info = "  ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "step" and isinstance(v, float))
        self.progress.update(self.task, info=info)
        self.progress.console.log(f"step {step}: {info}")

    def message(self, text: str) -> None:
        if self.enabled:
            self.progress.console.log(text)

    def close(self) -> None:
        if self.enabled:
            self.progress.stop()
            self.jsonl.close()
            if self.writer:
                self.writer.close()
