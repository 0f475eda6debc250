"""Copy a trained run's adapter into the package as the shipped adapter (weights stored in fp16).

    python bench/ship_adapter.py runs/headline

Writes sqlora/models/adapters/smollm2-135m-sql/: adapter_config.json (base model named by its hub id, not a
local path), adapter_model.safetensors in fp16 (half the size; PEFT casts it back to the model's dtype on load),
sqlora.json and the run's train_config.yaml. The model card (README.md there) is written by hand from the scores
of `sqlora eval --adapter shipped ...`, so the scores are those of the shipped file itself.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from sqlora.constants import ADAPTER_META
from sqlora.models.shipped import SHIPPED_ADAPTER_DIR

HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def ship(run: Path, target: Path = SHIPPED_ADAPTER_DIR) -> None:
    target.mkdir(parents=True, exist_ok=True)
    config = json.loads((run / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = HUB_ID
    (target / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
    weights = load_file(run / "adapter_model.safetensors")
    half = {name: tensor.to(torch.float16) for name, tensor in weights.items()}
    save_file(half, target / "adapter_model.safetensors")
    (target / "adapter_model.safetensors").chmod(0o644)
    for name in (ADAPTER_META, "train_config.yaml"):
        shutil.copy(run / name, target / name)
    size = (target / "adapter_model.safetensors").stat().st_size
    print(f"shipped {run} -> {target} ({len(weights)} tensors, {size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="A finished `sqlora train` output directory.")
    ship(parser.parse_args().run)
