"""A generator that asks a vLLM (OpenAI-compatible) server instead of a local model.

Same interface as :class:`SQLGenerator` (``generate_batch`` -> ``SQLResult``; extraction, validation and
name repair are shared): only the completion step is a ``POST /v1/completions`` through httpx.
Prompts are rendered locally with the model's tokenizer (chat template), so only the tokenizer is loaded.
vLLM itself is never imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from sqlora.constants import DEFAULT_MAX_NEW_TOKENS
from sqlora.inference.generator import SQLGenerator, adapter_metadata
from sqlora.inference.stopping import STOP_RULES, STOP_STRINGS, StopRule
from sqlora.models.loading import load_tokenizer


class VLLMError(RuntimeError):
    """The vLLM server could not be reached or gave an unusable answer."""


def list_models(base_url: str, api_key: str | None = None, timeout_s: float = 10.0) -> list[str]:
    """The model (and LoRA module) names a vLLM server serves (``GET /v1/models``)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(_v1(base_url) + "/models", headers=headers, timeout=timeout_s)
        response.raise_for_status()
        return [m["id"] for m in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
        raise VLLMError(f"cannot list models at {base_url}: {err}") from err


def _v1(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


class VLLMGenerator(SQLGenerator):
    """``SQLGenerator`` whose completions come from a vLLM server.

    ``served_model`` is the name in the request's ``model`` field: the merged model's name, or the
    name a LoRA adapter was registered under with ``vllm serve BASE --enable-lora --lora-modules NAME=PATH``
    (default: the first model the server lists). ``model``/``adapter`` only pick the tokenizer and the
    prompt style (an adapter's ``sqlora.json`` names its base model and prompt style).
    """

    def __init__(
        self,
        base_url: str,
        served_model: str | None = None,
        model: str | None = None,
        adapter: str | None = None,
        prompt_style: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        batch_size: int = 32,
        repair: bool = True,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        client: httpx.Client | None = None,
        stop: StopRule = "sqlora",
    ) -> None:
        if stop not in STOP_RULES:
            raise ValueError(f"unknown stop rule {stop!r}: use {', '.join(STOP_RULES)}")
        meta = adapter_metadata(adapter)
        self.base_url = _v1(base_url)
        self.api_key = api_key
        self.model_name = model or meta.get("base_model")
        self.adapter = adapter
        self.tokenizer = load_tokenizer(self.model_name)
        self.prompt_style = prompt_style or meta.get("prompt_style") or "chat"
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.repair = repair
        self.candidates = 1  # beam candidates are a local-model feature; the server answers greedily
        self.stop = stop  # the runaway stop is local too: "sqlora" sends the stop strings
        self.device = "remote"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.Client(timeout=timeout_s, headers=headers)
        self.served_model = served_model or self._first_model()

    def _first_model(self) -> str:
        names = list_models(self.base_url, self.api_key)
        if not names:
            raise VLLMError(f"{self.base_url} serves no models")
        if self.adapter:
            # vLLM lists the base model first, then the --lora-modules names.
            named = Path(self.adapter).name
            return named if named in names else names[-1]
        return names[0]

    def _request(self, prompts: list[str]) -> dict[str, Any]:
        payload = {
            "model": self.served_model,
            "prompt": prompts,
            "max_tokens": self.max_new_tokens,
            "temperature": 0.0,
            "stop": STOP_STRINGS if self.stop == "sqlora" else None,
            "n": 1,
        }
        try:
            response = self.client.post(self.base_url + "/completions", json=payload)
        except httpx.HTTPError as err:
            raise VLLMError(f"vLLM server at {self.base_url} unreachable: {err}") from err
        if response.status_code != 200:
            raise VLLMError(f"vLLM server answered {response.status_code}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError as err:
            raise VLLMError(f"vLLM server sent invalid JSON: {err}") from err

    def complete(self, prompts: list[str], schemas: list[str] | None = None) -> list[tuple[str, int]]:
        """Greedy completions of ``prompts`` from the server, with generated-token counts (``schemas`` is not
        used: the server decodes without sqlora's grammar)."""
        outputs: list[tuple[str, int]] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            data = self._request(chunk)
            try:
                choices = sorted(data["choices"], key=lambda c: c["index"])
                texts = [choice["text"] for choice in choices]
            except (KeyError, TypeError) as err:
                raise VLLMError(f"unexpected completion response: {str(data)[:300]}") from err
            if len(texts) != len(chunk):
                raise VLLMError(f"asked for {len(chunk)} completions, got {len(texts)}")
            for text in texts:
                outputs.append((text, len(self.tokenizer(text, add_special_tokens=False)["input_ids"])))
        return outputs

    def close(self) -> None:
        self.client.close()
