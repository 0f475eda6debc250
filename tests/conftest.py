"""Shared fixtures: paths to ../shared/data and a tiny model built from a config; the database fixtures of
``db_fixtures`` (servers, schemas, checksums) are registered here for every test module."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["db_fixtures"]  # assertion rewriting included

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SQL_CREATE_CONTEXT = SHARED_DATA / "sql-create-context" / "train.jsonl"
SPIDER = SHARED_DATA / "spider"


@pytest.fixture(scope="session")
def sql_create_context_path() -> Path:
    if not SQL_CREATE_CONTEXT.exists():
        pytest.skip(f"{SQL_CREATE_CONTEXT} not found")
    return SQL_CREATE_CONTEXT


@pytest.fixture(scope="session")
def spider_dir() -> Path:
    if not SPIDER.exists():
        pytest.skip(f"{SPIDER} not found")
    return SPIDER


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    """The converted embedded SmolLM2 model (converted once per machine)."""
    from sqlora.models.embedded import embedded_model_dir

    return embedded_model_dir()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, embedded_dir) -> Path:
    """A 2-layer Llama with the embedded tokenizer, randomly initialized, saved as a model directory."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    target = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
