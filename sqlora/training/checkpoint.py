"""Checkpoints that survive kill -9: adapter, optimizer, scheduler, RNG and data position."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch

STATE_FILE = "trainer_state.pt"


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(output: Path, step: int, peft_model, state: dict, keep: int) -> Path:
    """Write checkpoint-<step> atomically (staging dir + rename), then prune old ones."""
    final = output / f"checkpoint-{step}"
    staging = output / f".checkpoint-{step}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    peft_model.save_pretrained(staging)
    if (output / "sqlora.json").exists():  # base model and prompt style, so a checkpoint is a usable adapter
        shutil.copy(output / "sqlora.json", staging / "sqlora.json")
    torch.save({**state, "rng": rng_state()}, staging / STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    for old in list_checkpoints(output)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(output: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    found = [p for p in output.glob("checkpoint-*") if (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def load_checkpoint(path: Path, peft_model) -> dict:
    """Load adapter weights into ``peft_model`` and return the saved trainer state."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(peft_model, load_file(str(path / "adapter_model.safetensors")))
    return torch.load(path / STATE_FILE, weights_only=False)
