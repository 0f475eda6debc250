"""GGUF export of a merged Llama model: readable by gguf.GGUFReader, same logits through transformers' GGUF loader."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def adapted_model_dir(tiny_model_dir: Path, tmp_path_factory) -> Path:
    """The tiny model with non-trivial merged LoRA weights, saved like ``sqlora merge`` does."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(3)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    lora = LoraConfig(r=4, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(base, lora)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    target = tmp_path_factory.mktemp("merged")
    model.merge_and_unload().save_pretrained(target)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(target)
    return target


@pytest.mark.parametrize("dtype", ["f32", "f16"])
def test_export_gguf_round_trip(dtype: str, adapted_model_dir: Path, tmp_path: Path) -> None:
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import sqlora.cli.export  # noqa: F401  (registers export-gguf)
    from sqlora.cli.main import app

    path = tmp_path / f"model-{dtype}.gguf"
    result = CliRunner().invoke(app, ["export-gguf", str(adapted_model_dir), "--output", str(path), "--dtype", dtype])
    assert result.exit_code == 0, result.output

    reader = gguf.GGUFReader(str(path))
    names = {t.name: t for t in reader.tensors}
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["llama.block_count"].contents() == 2
    assert reader.fields["tokenizer.ggml.model"].contents() == "gpt2"
    assert {"token_embd.weight", "output_norm.weight", "blk.1.attn_q.weight", "blk.1.ffn_down.weight"} <= set(names)
    assert "output.weight" not in names  # tied embeddings
    matrix = gguf.GGMLQuantizationType.F16 if dtype == "f16" else gguf.GGMLQuantizationType.F32
    assert names["blk.0.attn_v.weight"].tensor_type == matrix
    assert names["blk.0.attn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32

    if dtype == "f16":  # values check only; the (slow) transformers round trip runs once, on the exact f32 file
        from safetensors.torch import load_file

        weights = load_file(str(adapted_model_dir / "model.safetensors"))
        v_proj = torch.from_numpy(names["blk.1.attn_v.weight"].data.astype("float32"))  # (out, in) like HF
        torch.testing.assert_close(v_proj, weights["model.layers.1.self_attn.v_proj.weight"], rtol=1e-3, atol=1e-3)
        return
    tokenizer = AutoTokenizer.from_pretrained(adapted_model_dir)
    text = "Given the following database schema:\nCREATE TABLE head (age INTEGER)\n\nSQL Query: SELECT"
    ids = tokenizer(text, return_tensors="pt")
    gguf_tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    assert gguf_tokenizer(text).input_ids == ids.input_ids[0].tolist()
    assert gguf_tokenizer.eos_token == tokenizer.eos_token

    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype=torch.float32).eval()
    reference = AutoModelForCausalLM.from_pretrained(adapted_model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        got, want = loaded(**ids).logits, reference(**ids).logits
    assert torch.equal(got, want)


def test_export_gguf_rejects_non_llama(tmp_path: Path) -> None:
    from sqlora.training.gguf_export import export_gguf

    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ValueError, match="Llama"):
        export_gguf(tmp_path, tmp_path / "x.gguf")
