import json

import pytest
import torch

from sqlora.inference.generator import SQLGenerator
from sqlora.inference.validation import validate_sql
from sqlora.models.loading import load_model, load_tokenizer, resolve_model


def test_embedded_alias_resolves_to_converted_directory(embedded_dir):
    assert resolve_model(None) == str(embedded_dir)
    assert resolve_model("SmolLM2-135M-Instruct") == str(embedded_dir)
    config = json.loads((embedded_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert (embedded_dir / "model.safetensors").exists()


def test_tiny_model_loads_in_4bit_nf4_on_cpu(tiny_model_dir):
    import bitsandbytes as bnb

    full = load_model(str(tiny_model_dir), device="cpu")
    quantized = load_model(str(tiny_model_dir), quantize=True, device="cpu")
    linear = quantized.model.layers[0].self_attn.q_proj
    assert isinstance(linear, bnb.nn.Linear4bit)
    assert linear.weight.quant_type == "nf4"
    assert quantized.config.quantization_config.bnb_4bit_use_double_quant is True
    assert quantized.get_memory_footprint() < full.get_memory_footprint()
    ids = load_tokenizer(str(tiny_model_dir))("SELECT", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.isfinite(quantized(ids).logits).all()


def test_4bit_model_keeps_no_pages_of_its_full_precision_checkpoint(tiny_model_dir, tmp_path):
    import gc
    import shutil

    own_dir = shutil.copytree(tiny_model_dir, tmp_path / "tiny")  # no other test's model maps this file
    checkpoint = str(own_dir / "model.safetensors")
    quantized = load_model(str(own_dir), quantize=True, device="cpu")
    gc.collect()
    with open("/proc/self/maps") as maps:
        assert checkpoint not in maps.read()  # the memory map of the fp32 weights was released
    assert quantized.lm_head.weight is quantized.model.embed_tokens.weight  # tied weights stay tied
    full = load_model(str(tiny_model_dir), device="cpu")
    assert torch.equal(quantized.model.embed_tokens.weight, full.model.embed_tokens.weight)


@pytest.mark.real_model
def test_real_embedded_model_nf4_footprint_is_smaller(embedded_dir):
    full = load_model(None, device="cpu")
    quantized = load_model(None, quantize=True, device="cpu")
    assert sum(p.numel() for p in full.parameters()) > 100_000_000
    assert quantized.get_memory_footprint() < 0.5 * full.get_memory_footprint()


def test_validate_sql_checks_parse_kind_and_schema():
    schema = "CREATE TABLE head (age INTEGER, name VARCHAR)"
    assert validate_sql("SELECT name FROM head WHERE age > 56", schema).valid
    assert "syntax" in validate_sql("SELECT FROM (((", schema).errors[0]
    assert "no such column" in validate_sql("SELECT salary FROM head", schema).errors[0]
    assert "no such table" in validate_sql("SELECT * FROM staff", schema).errors[0]
    assert "only SELECT" in validate_sql("DELETE FROM head", schema).errors[0]
    assert "no SQL" in validate_sql("", schema).errors[0]


@pytest.mark.real_model
def test_real_model_generates_through_prompt_and_extraction():
    generator = SQLGenerator(max_new_tokens=48, repair=False, prompt_style="article")
    schema = "CREATE TABLE head (age INTEGER, name VARCHAR)"
    results = generator.generate_batch([("How many heads are older than 56?", schema), ("List all names", schema)])
    assert len(results) == 2
    for result in results:
        assert 0 < result.generated_tokens <= 48
        assert result.latency_s > 0
        assert result.raw
        assert result.valid == validate_sql(result.sql, schema).valid


def test_validate_sql_merges_tables_declared_twice():
    schema = "CREATE TABLE mountain (name VARCHAR); CREATE TABLE mountain (height INTEGER, Name VARCHAR)"
    assert validate_sql("SELECT name FROM mountain WHERE height > 5000", schema).valid


def test_generate_sql_api_returns_a_validated_result(tiny_model_dir):
    from sqlora import generate_sql

    schema = "CREATE TABLE head (age INTEGER)"
    result = generate_sql("How many heads?", schema, model=str(tiny_model_dir), max_new_tokens=8, repair=False)
    assert 0 < result.generated_tokens <= 8
    assert result.valid == validate_sql(result.sql, schema).valid
    assert result.valid or result.errors
