"""SQLGenerator: batched greedy generation, SQL extraction, validation, repairs and candidate selection.

How a generator behaves is its settings, set at construction or changed on the instance afterwards:
``max_new_tokens``, ``batch_size``, ``candidates`` (beam candidates for answers that fail), ``stop`` (a
:data:`~sqlora.inference.stopping.StopRule`), ``repairs`` (the steps that mend an answer without calling the
model, in order), ``constrained`` (greedy decoding held to a SQL grammar over each question's schema, see
:mod:`sqlora.inference.constrained`) and the ``precision`` the model was loaded in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from sqlora.constants import ADAPTER_META, DEFAULT_MAX_NEW_TOKENS
from sqlora.inference.stopping import STOP_RULES, StopRule, stopping_kwargs
from sqlora.inference.validation import repair_identifiers, repair_joins, validate_sql
from sqlora.models.attention import use_sqlora_attention
from sqlora.models.loading import (
    default_device,
    inference_precision,
    load_for_inference,
    load_tokenizer,
    precision_name,
)
from sqlora.models.shipped import resolve_adapter
from sqlora.prompts.extraction import extract_sql
from sqlora.prompts.templates import render_prompt
from sqlora.sql.linking import ValueIndex
from sqlora.sql.values import ground_literals

Check = Callable[[str], str | None]
"""A caller's test of a valid answer (e.g. run it on the real database): a reason to reject it, or None."""

Repair = Callable[[str, str], str | None]
"""One repair step: ``(sql, schema)`` -> SQL that validates against the schema, or None when it has nothing to
fix (or cannot). Steps run in order, each on the previous step's result."""

DEFAULT_REPAIRS: tuple[Repair, ...] = (repair_identifiers, repair_joins)
"""Name repair (a table/column the schema lacks -> its closest schema name), then join repair (``ON T1.x =
T1.x`` pointed at the joined table). Neither calls the model."""


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


def adapter_metadata(adapter: str | Path | None) -> dict:
    """What sqlora recorded next to a trained adapter (base model, prompt style, quantization)."""
    if not adapter:
        return {}
    path = Path(resolve_adapter(adapter)) / ADAPTER_META
    return json.loads(path.read_text()) if path.exists() else {}


class SQLGenerator:
    """Turn questions over schemas into validated SQL with a base model and an optional adapter.

    ``model`` is a hub id or a local directory (None: the embedded SmolLM2-135M-Instruct, or the adapter's base
    model); ``adapter`` a trained adapter directory, ``"shipped"`` for the one shipped with sqlora, or None (no
    adapter); ``loaded`` is an already-loaded ``(model, tokenizer)`` pair used instead of loading one
    (see :meth:`from_model`). ``repair=False`` is the same as ``repairs=()``.
    """

    stop: StopRule = "sqlora"

    def __init__(
        self,
        model: str | None = None,
        adapter: str | None = None,
        prompt_style: str | None = None,
        precision: str | None = None,
        device: str | None = None,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        batch_size: int = 8,
        repair: bool = True,
        candidates: int = 1,
        *,
        stop: StopRule = "sqlora",
        repairs: Sequence[Repair] | None = None,
        constrained: bool = False,
        loaded: tuple[Any, Any] | None = None,
    ) -> None:
        if stop not in STOP_RULES:
            raise ValueError(f"unknown stop rule {stop!r}: use {', '.join(STOP_RULES)}")
        if candidates < 1 or batch_size < 1 or max_new_tokens < 1:
            raise ValueError("candidates, batch_size and max_new_tokens must be at least 1")
        adapter = resolve_adapter(adapter)
        meta = adapter_metadata(adapter)
        self.model_name = model or meta.get("base_model")
        self.adapter = adapter
        if loaded is None:
            self.device = device or default_device()
            self.tokenizer = load_tokenizer(self.model_name)
            qlora = bool(meta.get("quantized", False))
            self.precision = inference_precision(precision, bool(adapter) and qlora, self.device)
            self.model = load_for_inference(self.model_name, adapter, qlora, self.precision, self.device)
        else:
            self.model, self.tokenizer = loaded
            use_sqlora_attention(self.model)
            self.device = str(self.model.device)
            in_4bit = getattr(self.model, "is_loaded_in_4bit", False)
            self.precision = "nf4" if in_4bit else precision_name(self.model.dtype)
        self.tokenizer.padding_side = "left"
        self.prompt_style = prompt_style or meta.get("prompt_style") or "chat"
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.candidates = candidates
        self.stop = stop
        self.repairs: list[Repair] = list(DEFAULT_REPAIRS if repairs is None else repairs) if repair else []
        self.constrained = constrained

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        prompt_style: str = "article",
        *,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        batch_size: int = 8,
        repair: bool = True,
        candidates: int = 1,
        stop: StopRule = "sqlora",
        repairs: Sequence[Repair] | None = None,
    ) -> SQLGenerator:
        """A generator around an already-loaded model and tokenizer (e.g. the one being trained). A model loaded with
        plain SDPA is switched to sqlora's attention (:mod:`sqlora.models.attention`) so batched, left-padded
        generation stays finite on every GPU."""
        return cls(
            prompt_style=prompt_style,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            repair=repair,
            candidates=candidates,
            stop=stop,
            repairs=repairs,
            loaded=(model, tokenizer),
        )

    @classmethod
    def shared(cls, **settings: Any) -> SQLGenerator:
        """A process-wide generator for these keyword settings (:class:`SQLGenerator`'s), loaded once per distinct
        set of settings; changing its settings affects all users."""
        return _shared_generator(cls, tuple(sorted(settings.items())))

    @property
    def repair(self) -> bool:
        """Whether any repair step is on; setting it turns on :data:`DEFAULT_REPAIRS` or turns every step off."""
        return bool(self.repairs)

    @repair.setter
    def repair(self, on: bool) -> None:
        self.repairs = list(DEFAULT_REPAIRS) if on else []

    def prompt(self, question: str, schema: str) -> str:
        return render_prompt(schema, question, self.prompt_style, self.tokenizer)

    def complete(self, prompts: list[str], schemas: list[str] | None = None) -> list[tuple[str, int]]:
        """Greedy completions of ``prompts`` (batched, left-padded), with generated-token counts.

        With ``constrained`` on, each completion is held to the SQL grammar of its schema in ``schemas``.
        """
        return [options[0] for options in self.complete_candidates(prompts, 1, schemas)]

    @torch.inference_mode()
    def complete_candidates(
        self, prompts: list[str], k: int, schemas: list[str] | None = None
    ) -> list[list[tuple[str, int]]]:
        """The ``k`` best beam-search completions of each prompt (greedy when k == 1), best first.

        Greedy completions are held to each schema's grammar when ``constrained`` is on and ``schemas`` given
        (beam candidates are not: the grammar follows one sequence per row).
        """
        outputs: list[list[tuple[str, int]]] = []
        batch = max(1, self.batch_size // k)
        for start in range(0, len(prompts), batch):
            chunk = prompts[start : start + batch]
            encoded = self.tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
            encoded = encoded.to(self.model.device)
            width = encoded["input_ids"].shape[1]
            grammar = {}
            if self.constrained and schemas is not None and k == 1:
                from sqlora.inference.constrained import constrained_logits_processor

                processor = constrained_logits_processor(self.tokenizer, schemas[start : start + batch])
                grammar = {"logits_processor": [processor]}
            generated = self.model.generate(
                **encoded,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                num_beams=k,
                num_return_sequences=k,
                pad_token_id=self.tokenizer.pad_token_id,
                **stopping_kwargs(self.stop, self.tokenizer, width),
                **grammar,
            )
            rows = []
            for row in generated[:, width:]:
                count = int((row != self.tokenizer.pad_token_id).sum())
                rows.append((self.tokenizer.decode(row, skip_special_tokens=True), count))
            outputs.extend(rows[i : i + k] for i in range(0, len(rows), k))
        return outputs

    def generate_batch(
        self,
        pairs: list[tuple[str, str]],
        checks: Sequence[Check | None] | None = None,
        values: Sequence[ValueIndex | None] | None = None,
    ) -> list[SQLResult]:
        """Answer (question, schema) pairs; each result is validated against its schema.

        ``checks`` (one per pair, optional) test valid answers further, e.g. by running them read-only on the
        real database. ``values`` (one per pair, optional) are the text values the pair's database stores, for
        grounding filter literals. With ``candidates > 1``, answers that are invalid or fail their check are
        replaced by the best beam that passes (execution-guided selection). Each answer goes through
        :meth:`answer` (extraction, validation, the ``repairs`` steps, literal grounding); none of that calls
        the model.
        """
        checks = list(checks) if checks is not None else [None] * len(pairs)
        values = list(values) if values is not None else [None] * len(pairs)
        started = time.perf_counter()
        completions = self.complete([self.prompt(q, s) for q, s in pairs], [s for _, s in pairs])
        elapsed = time.perf_counter() - started
        results = []
        for (question, schema), (text, count), check, stored in zip(pairs, completions, checks, values, strict=True):
            result = self.answer(text, schema, elapsed / len(pairs), count, question=question, values=stored)
            if result.valid and check and self.candidates > 1:  # checks only matter when there is a choice
                result.rejected = check(result.sql)
            results.append(result)
        if self.candidates > 1:
            self._pick_candidate(pairs, results, checks, values)
        return results

    def answer(
        self,
        text: str,
        schema: str,
        latency_s: float = 0.0,
        generated_tokens: int = 0,
        *,
        question: str = "",
        values: ValueIndex | None = None,
    ) -> SQLResult:
        """The SQL in a completion, validated against ``schema``, after the ``repairs`` steps in order and, with
        repairs on and the database's ``values`` given, its filter literals grounded in the stored values
        (:mod:`sqlora.sql.values`).

        An answer that validates after some step is valid; ``repaired`` says whether the steps changed it.
        """
        sql = extract_sql(text)
        verdict = validate_sql(sql, schema)
        current, valid = sql, verdict.valid
        for step in self.repairs:
            fixed = step(current, schema)
            if fixed is not None:
                current, valid = fixed, True
        if valid and self.repairs and values is not None:
            grounded = ground_literals(current, question, values)
            if grounded is not None and validate_sql(grounded, schema).valid:
                current = grounded
        if not valid:
            return SQLResult(sql, False, verdict.errors, text, latency_s, generated_tokens)
        return SQLResult(current, True, [], text, latency_s, generated_tokens, repaired=current != sql)

    def _pick_candidate(
        self,
        pairs: list[tuple[str, str]],
        results: list[SQLResult],
        checks: list[Check | None],
        values: list[ValueIndex | None],
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
                question, schema = pairs[i]
                chosen = self.answer(
                    text, schema, old.latency_s, old.generated_tokens, question=question, values=values[i]
                )
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

    def generate(self, question: str, schema: str, values: ValueIndex | None = None) -> SQLResult:
        """Answer one question (see :meth:`generate_batch`)."""
        return self.generate_batch([(question, schema)], values=[values])[0]


@lru_cache(maxsize=4)
def _shared_generator(cls: type[SQLGenerator], settings: tuple[tuple[str, Any], ...]) -> SQLGenerator:
    return cls(**dict(settings))
