"""Model loading: the embedded default, hub ids, local directories, 4-bit NF4 quantization."""

from sqlora.models.embedded import EMBEDDED_MODEL_NAME, embedded_model_dir
from sqlora.models.loading import load_model, load_tokenizer, resolve_model

__all__ = ["EMBEDDED_MODEL_NAME", "embedded_model_dir", "load_model", "load_tokenizer", "resolve_model"]
