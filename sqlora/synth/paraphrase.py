"""Other wordings of generated questions, written by a chat model and kept only when they keep every value.

Template questions are grammatical but few in shape; a model that can paraphrase adds the variety of real
users' wording. A paraphrase is kept only if it is one short question that differs from the original and still
contains every literal the SQL filters on (a value lost or changed would teach a wrong pair).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

import sqlglot
from sqlglot import exp

from sqlora.synth.generate import Pair

INSTRUCTION = (
    "Rewrite the question below in different words. Keep its meaning and every name, number and quoted value"
    " exactly as written. Reply with the rewritten question only.\n\nQuestion: {question}"
)
MAX_WORDS = 40


def _normalized(text: str) -> str:
    """Lower-case words without punctuation and articles: two wordings equal here say nothing new."""
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return " ".join(word for word in words if word not in ("a", "an", "the"))


def sql_literals(sql: str) -> list[str]:
    """The literal values an SQL query mentions (strings and numbers, as text)."""
    try:
        tree = sqlglot.parse_one(sql)
    except (sqlglot.errors.SqlglotError, RecursionError):
        return []
    return [str(node.this) for node in tree.find_all(exp.Literal) if str(node.this).strip()]


def _mentions(text: str, literal: str) -> bool:
    if re.fullmatch(r"-?\d+(\.\d+)?", literal):  # numbers: as a whole number, not inside a longer one
        return re.search(rf"(?<![\d.]){re.escape(literal)}(?![\d])", text) is not None
    return literal.lower() in text.lower()


def keeps_meaning(original: Pair, paraphrase: str) -> bool:
    """Whether ``paraphrase`` may stand for ``original``'s question: one new question with the same values."""
    text = paraphrase.strip()
    words = text.split()
    if not text or "\n" in text or not 3 <= len(words) <= MAX_WORDS or not text.endswith(("?", ".")):
        return False
    if _normalized(text) == _normalized(original.question):
        return False
    literals = [value for value in sql_literals(original.sql) if _mentions(original.question, value)]
    return all(_mentions(text, value) for value in literals)


def _clean(answer: str) -> str:
    line = answer.strip().split("\n")[0].strip()
    line = re.sub(r"^[A-Za-z][A-Za-z ]{0,30}:\s*", "", line)  # "Rewritten question:", "The answer is:"
    return line.strip().strip('"').strip()


def paraphrase_pairs(
    pairs: Sequence[Pair],
    model: str | None,
    batch_size: int = 8,
    max_new_tokens: int = 48,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Pair]:
    """One paraphrased pair per pair whose model-written wording passes :func:`keeps_meaning` (same SQL)."""
    import torch

    from sqlora.models.loading import load_model, load_tokenizer

    tokenizer = load_tokenizer(model)
    tokenizer.padding_side = "left"
    llm = load_model(model).eval()
    kept: list[Pair] = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start : start + batch_size]
        prompts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": INSTRUCTION.format(question=pair.question)}],
                tokenize=False,
                add_generation_prompt=True,
            )
            for pair in batch
        ]
        inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(llm.device)
        with torch.no_grad():
            output = llm.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        answers = tokenizer.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        for pair, answer in zip(batch, answers, strict=True):
            text = _clean(answer)
            if keeps_meaning(pair, text):
                kept.append(replace(pair, question=text))
        if on_progress:
            on_progress(min(start + batch_size, len(pairs)), len(pairs))
    return kept
