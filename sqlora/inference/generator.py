"""SQLGenerator: batched greedy generation, SQL extraction, validation, name repair and candidate selection."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from transformers import StoppingCriteriaList

from sqlora.inference.stopping import RunawayStop
from sqlora.inference.validation import repair_identifiers, repair_joins, validate_sql
from sqlora.models.loading import (
    default_device,
    inference_precision,
    load_for_inference,
    load_tokenizer,
    precision_name,
)
from sqlora.prompts.extraction import extract_sql
from sqlora.prompts.templates import render_prompt

STOP_STRINGS = [";", "\n\n", "```\n"]
ADAPTER_META = "sqlora.json"

Check = Callable[[str], str | None]
"""A caller's test of a valid answer (e.g. run it on the real database): a reason to reject it, or None."""


@dataclass
class SQLResult:
    """One answer: the SQL, whether it validated, why not, and what it cost."""

    sql: str
    valid: bool
    errors: list[str] = field(default_factory=list)
    raw: str = ""
    latency_s: float = 0.0
    generated_tokens: int = 0
    repaired: bool = False
    rejected: str | None = None  # why the caller's check refused this (valid) SQL, e.g. "returned no rows"

    def to_dict(self) -> dict:
        return asdict(self)


def adapter_metadata(adapter: str | None) -> dict:
    """What sqlora recorded next to a trained adapter (base model, prompt style)."""
    if not adapter:
        return {}
    path = Path(adapter) / ADAPTER_META
    return json.loads(path.read_text()) if path.exists() else {}


class SQLGenerator:
    """Turn questions over schemas into validated SQL with a base model and an optional adapter."""

    def __init__(
        self,
        model: str | None = None,
        adapter: str | None = None,
        prompt_style: str | None = None,
        precision: str | None = None,
        device: str | None = None,
        max_new_tokens: int = 160,
        batch_size: int = 8,
        repair: bool = True,
        candidates: int = 1,
    ) -> None:
        meta = adapter_metadata(adapter)
        self.model_name = model or meta.get("base_model")
        self.adapter = adapter
        self.device = device or default_device()
        self.tokenizer = load_tokenizer(self.model_name)
        self.tokenizer.padding_side = "left"
        qlora = bool(meta.get("quantized", False))
        self.precision = inference_precision(precision, bool(adapter) and qlora, self.device)
        self.model = load_for_inference(self.model_name, adapter, qlora, self.precision, self.device)
        self.prompt_style = prompt_style or meta.get("prompt_style") or "chat"
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.repair = repair
        self.candidates = candidates

    @classmethod
    def from_model(cls, model, tokenizer, prompt_style: str = "article", **options) -> SQLGenerator:
        """A generator around an already-loaded model (e.g. the one being trained)."""
        generator = cls.__new__(cls)
        generator.model_name, generator.adapter, generator.device = None, None, str(model.device)
        in_4bit = getattr(model, "is_loaded_in_4bit", False)
        generator.precision = "nf4" if in_4bit else precision_name(model.dtype)
        generator.model, generator.tokenizer, generator.prompt_style = model, tokenizer, prompt_style
        tokenizer.padding_side = "left"
        generator.max_new_tokens = options.get("max_new_tokens", 160)
        generator.batch_size = options.get("batch_size", 8)
        generator.repair = options.get("repair", True)
        generator.candidates = options.get("candidates", 1)
        return generator

    @staticmethod
    @lru_cache(maxsize=4)
    def _shared(key: tuple) -> SQLGenerator:
        return SQLGenerator(**dict(key))

    @classmethod
    def shared(cls, **kwargs) -> SQLGenerator:
        """A process-wide generator for these settings (loaded once)."""
        return cls._shared(tuple(sorted(kwargs.items())))

    def prompt(self, question: str, schema: str) -> str:
        return render_prompt(schema, question, self.prompt_style, self.tokenizer)

    def complete(self, prompts: list[str]) -> list[tuple[str, int]]:
        """Greedy completions of ``prompts`` (batched, left-padded), with generated-token counts."""
        return [options[0] for options in self.complete_candidates(prompts, 1)]

    @torch.inference_mode()
    def complete_candidates(self, prompts: list[str], k: int) -> list[list[tuple[str, int]]]:
        """The ``k`` best beam-search completions of each prompt (greedy when k == 1), best first."""
        outputs: list[list[tuple[str, int]]] = []
        batch = max(1, self.batch_size // k)
        for start in range(0, len(prompts), batch):
            chunk = prompts[start : start + batch]
            encoded = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
            encoded = encoded.to(self.model.device)
            width = encoded["input_ids"].shape[1]
            generated = self.model.generate(
                **encoded,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                num_beams=k,
                num_return_sequences=k,
                stop_strings=STOP_STRINGS,
                stopping_criteria=StoppingCriteriaList([RunawayStop(self.tokenizer, width)]),
                tokenizer=self.tokenizer,
                pad_token_id=self.tokenizer.pad_token_id,
            )
            rows = []
            for row in generated[:, width:]:
                count = int((row != self.tokenizer.pad_token_id).sum())
                rows.append((self.tokenizer.decode(row, skip_special_tokens=True), count))
            outputs.extend(rows[i : i + k] for i in range(0, len(rows), k))
        return outputs

    def generate_batch(
        self, pairs: list[tuple[str, str]], checks: Sequence[Check | None] | None = None
    ) -> list[SQLResult]:
        """Answer (question, schema) pairs; each result is validated against its schema.

        ``checks`` (one per pair, optional) test valid answers further, e.g. by running them read-only on the
        real database. With ``candidates > 1``, answers that are invalid or fail their check are replaced by
        the best beam that passes (execution-guided selection). With ``repair``, a table or column name the
        schema lacks is renamed to its closest schema name first (:func:`repair_identifiers`), and a join
        condition that compares a column with itself is pointed at the joined table (:func:`repair_joins`);
        neither calls the model.
        """
        checks = list(checks) if checks is not None else [None] * len(pairs)
        started = time.perf_counter()
        completions = self.complete([self.prompt(q, s) for q, s in pairs])
        elapsed = time.perf_counter() - started
        results = []
        for (_, schema), (text, count), check in zip(pairs, completions, checks, strict=True):
            result = self._answer(text, schema, elapsed / len(pairs), count)
            if result.valid and check and self.candidates > 1:  # checks only matter when there is a choice
                result.rejected = check(result.sql)
            results.append(result)
        if self.candidates > 1:
            self._pick_candidate(pairs, results, checks)
        return results

    def _answer(self, text: str, schema: str, latency_s: float, tokens: int) -> SQLResult:
        """The SQL in a completion, validated; with ``repair``, wrong names and self-joins are mended."""
        sql = extract_sql(text)
        verdict = validate_sql(sql, schema)
        if not self.repair:
            return SQLResult(sql, verdict.valid, verdict.errors, text, latency_s, tokens)
        renamed = sql if verdict.valid else repair_identifiers(sql, schema)
        if renamed is None:
            return SQLResult(sql, False, verdict.errors, text, latency_s, tokens)
        fixed = repair_joins(renamed, schema) or renamed
        return SQLResult(fixed, True, [], text, latency_s, tokens, repaired=fixed != sql)

    def _pick_candidate(
        self, pairs: list[tuple[str, str]], results: list[SQLResult], checks: list[Check | None]
    ) -> None:
        """Beam search ``candidates`` completions for answers that are invalid or rejected by their check.

        The first beam that validates and passes the check wins; failing that, an invalid answer is replaced
        by the first beam that at least validates.
        """
        retry = [i for i, r in enumerate(results) if not r.valid or r.rejected]
        if not retry:
            return
        started = time.perf_counter()
        options = self.complete_candidates([self.prompt(*pairs[i]) for i in retry], self.candidates)
        extra = (time.perf_counter() - started) / len(retry)
        for i, texts in zip(retry, options, strict=True):
            old = results[i]
            old.latency_s += extra
            old.generated_tokens += sum(count for _, count in texts)
            fallback = None
            for text, _ in texts:
                chosen = self._answer(text, pairs[i][1], old.latency_s, old.generated_tokens)
                if not chosen.valid:
                    continue
                chosen.repaired = True  # not the model's first answer
                chosen.rejected = checks[i](chosen.sql) if checks[i] else None
                if chosen.rejected is None:
                    results[i] = chosen
                    break
                fallback = fallback or chosen
            else:
                if fallback is not None and not old.valid:
                    results[i] = fallback

    def generate(self, question: str, schema: str) -> SQLResult:
        return self.generate_batch([(question, schema)])[0]
