"""Export a merged Llama-architecture model directory to a GGUF file (f32 or f16) for llama.cpp and friends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FILE_TYPES = {"f32": 0, "f16": 1}


def _permute(weights: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's rotary layout for q/k projections (transformers' GGUF loader reverses it)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    shape = weights.shape
    return weights.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def _add_tokenizer(writer, model_dir: Path, vocab_size: int, pre: str) -> None:
    """BPE tokenizer metadata (tokens, types, merges, special ids, chat template) from tokenizer.json."""
    import gguf
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    added = {token.content: token.special for token in tokenizer.added_tokens_decoder.values()}
    tokens, types = [], []
    for index in range(vocab_size):
        token = by_id.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif token in added:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL if added[token] else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size).add_to_gguf(writer)


def export_gguf(model_dir: str | Path, output: str | Path, dtype: str = "f16", tokenizer_pre: str = "default") -> Path:
    """Write ``model_dir`` (a merged LlamaForCausalLM, e.g. from ``sqlora merge``) as one GGUF file.

    Norms stay f32 (as llama.cpp does); matrices are written in ``dtype`` (``f16`` or ``f32``).
    """
    import gguf
    from safetensors.numpy import load_file

    if dtype not in FILE_TYPES:
        raise ValueError(f"dtype must be one of {', '.join(FILE_TYPES)}")
    model_dir, output = Path(model_dir), Path(output)
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "llama":
        raise ValueError(f"only Llama-architecture models can be exported (this one is {config.get('model_type')})")
    n_head = config["num_attention_heads"]
    n_kv = config.get("num_key_value_heads") or n_head
    n_layers = config["num_hidden_layers"]

    tensors: dict[str, np.ndarray] = {}
    for shard in sorted(model_dir.glob("*.safetensors")):
        tensors.update(load_file(str(shard)))
    if not tensors:
        raise FileNotFoundError(f"no .safetensors weights in {model_dir}")

    arch = gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA]
    writer = gguf.GGUFWriter(str(output), arch)
    writer.add_name(model_dir.name)
    writer.add_file_type(FILE_TYPES[dtype])
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(config.get("head_dim") or config["hidden_size"] // n_head)
    rope_theta = config.get("rope_theta") or (config.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    writer.add_vocab_size(config["vocab_size"])
    _add_tokenizer(writer, model_dir, config["vocab_size"], tokenizer_pre)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    tied = config.get("tie_word_embeddings", False)
    for hf_name, array in tensors.items():
        if hf_name.endswith("rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ValueError(f"no GGUF name for tensor {hf_name}")
        array = array.astype(np.float32)
        if hf_name.endswith("q_proj.weight"):
            array = _permute(array, n_head, n_head)
        elif hf_name.endswith("k_proj.weight"):
            array = _permute(array, n_head, n_kv)
        if dtype == "f16" and array.ndim > 1:
            array = array.astype(np.float16)
        writer.add_tensor(name, array)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return output
