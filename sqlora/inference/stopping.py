"""Where a generation stops: sqlora's stop rules (end of the first statement, a row that has started to loop
such as ``JOIN t AS T5 ... JOIN t AS T6 ...``) or the model's end-of-sequence token alone."""

from __future__ import annotations

import re
from typing import Literal

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

StopRule = Literal["sqlora", "eos"]
"""``sqlora``: stop at :data:`STOP_STRINGS` and on runaway rows; ``eos``: only the model's EOS token or the budget."""
STOP_RULES: tuple[StopRule, ...] = ("sqlora", "eos")
STOP_STRINGS = [";", "\n\n", "```\n"]
"""The end of the first statement: a semicolon, a blank line, a closing code fence."""

RUNAWAY_WORDS = 4
RUNAWAY_REPEATS = 4
_DIGITS = re.compile(r"\d+")


def is_runaway(text: str, n: int = RUNAWAY_WORDS, repeats: int = RUNAWAY_REPEATS) -> bool:
    """Whether the last ``n`` words of ``text`` (numbers folded, so T5 == T6) occur ``repeats`` times.

    Four words seen four times: none of the 10,842 gold queries of sql-create-context and Spider's
    training set does that at any prefix (tests/test_stopping.py), while looping answers do.
    """
    words = _DIGITS.sub("#", text).split()
    if len(words) < n * repeats:
        return False
    tail = words[-n:]
    return sum(1 for start in range(len(words) - n + 1) if words[start : start + n] == tail) >= repeats


class RunawayStop(StoppingCriteria):
    """Ends each row of a batch whose generated text has started to loop (see :func:`is_runaway`).

    Small models fall into loops that run to the token budget and make the whole batch wait; the
    truncated query fails validation and takes the generator's fallback path instead.
    """

    def __init__(self, tokenizer, prompt_length: int) -> None:
        self.tokenizer, self.prompt_length = tokenizer, prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores=None, **kwargs) -> torch.BoolTensor:
        generated = input_ids[:, self.prompt_length :]
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if generated.shape[1] < RUNAWAY_WORDS * RUNAWAY_REPEATS:
            return done
        texts = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
        for row, text in enumerate(texts):
            done[row] = is_runaway(text)
        return done


def stopping_kwargs(rule: StopRule, tokenizer, prompt_length: int) -> dict:
    """``model.generate`` keyword arguments for a stop rule (see :data:`StopRule`)."""
    if rule == "eos":
        return {}
    if rule != "sqlora":
        raise ValueError(f"unknown stop rule {rule!r}: use {', '.join(STOP_RULES)}")
    return {
        "stop_strings": STOP_STRINGS,
        "stopping_criteria": StoppingCriteriaList([RunawayStop(tokenizer, prompt_length)]),
        "tokenizer": tokenizer,
    }
