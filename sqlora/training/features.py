"""Examples -> token ids, answer-only labels and per-token SQL weights."""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
import torch
from sqlglot.errors import TokenError
from sqlglot.tokens import Tokenizer, TokenType

from sqlora.data.record import Example
from sqlora.prompts.templates import answer_suffix, render_prompt
from sqlora.sql.schema import parse_schema
from sqlora.training.config import TokenWeights

IGNORE = -100
_LITERALS = {TokenType.STRING, TokenType.NUMBER, TokenType.NATIONAL_STRING, TokenType.TRUE, TokenType.FALSE}
_NAMES = {TokenType.VAR, TokenType.IDENTIFIER}
_PUNCTUATION = set("(),.;")
_FUNCTIONS = {"COUNT", "SUM", "AVG", "MIN", "MAX", "ABS", "ROUND", "LENGTH", "UPPER", "LOWER", "SUBSTR"}


@dataclass
class Features:
    input_ids: list[int]
    labels: list[int]
    weights: list[float]

    def __len__(self) -> int:
        return len(self.input_ids)


def _schema_names(context: str) -> set[str]:
    names = set()
    for table in parse_schema(context):
        names.add(table.name.lower())
        names.update(column.lower() for column in table.column_names)
    return names


def sql_char_roles(sql: str, schema_names: set[str]) -> list[str]:
    """The SQL role of every character: keyword, identifier, operator, literal or other."""
    roles = ["other"] * len(sql)
    try:
        tokens = sqlglot.tokenize(sql, read="sqlite")
    except TokenError:
        return roles
    for token in tokens:
        text = token.text
        if token.token_type in _LITERALS:
            role = "literal"
        elif token.token_type in _NAMES:
            if text.lower() in schema_names:
                role = "identifier"
            elif text.upper() in _FUNCTIONS:
                role = "keyword"
            else:
                role = "other"
        elif text.upper() in Tokenizer.KEYWORDS or text.isalpha():
            role = "keyword"
        elif text and not set(text) <= _PUNCTUATION:
            role = "operator"
        else:
            role = "other"
        start = max(token.start, 0)
        for index in range(start, min(token.end + 1, len(sql))):
            roles[index] = role
    return roles


def encode_example(
    example: Example,
    tokenizer,
    prompt_style: str = "article",
    weights: TokenWeights | None = None,
    max_length: int = 512,
) -> Features | None:
    """Token ids for prompt+answer; only answer tokens carry labels. None when too long."""
    weights = weights or TokenWeights()
    prompt = render_prompt(example.context, example.question, prompt_style, tokenizer)
    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    answer = tokenizer(example.sql, add_special_tokens=False, return_offsets_mapping=not weights.uniform)
    suffix_ids = tokenizer(answer_suffix(prompt_style, tokenizer), add_special_tokens=False).input_ids
    answer_ids = list(answer.input_ids) + suffix_ids
    if len(prompt_ids) + len(answer_ids) > max_length:
        return None
    if weights.uniform:
        answer_weights = [1.0] * len(answer_ids)
    else:
        roles = sql_char_roles(example.sql, _schema_names(example.context))
        answer_weights = []
        for start, end in answer.offset_mapping:
            span = [roles[i] for i in range(start, end) if not example.sql[i].isspace()]
            answer_weights.append(getattr(weights, span[0]) if span else weights.other)
        answer_weights += [weights.other] * len(suffix_ids)
    return Features(
        input_ids=prompt_ids + answer_ids,
        labels=[IGNORE] * len(prompt_ids) + answer_ids,
        weights=[0.0] * len(prompt_ids) + answer_weights,
    )


def collate(batch: list[Features], pad_id: int, multiple: int = 1) -> dict[str, torch.Tensor]:
    """Left-pad a batch to its longest member, rounded up to ``multiple``, so every answer ends at the last position.

    With the answers aligned at the end, the loss needs logits only for the last few positions
    (``logits_to_keep``); positions count from each row's first real token, so padding changes nothing.
    """
    width = -(-max(len(f) for f in batch) // multiple) * multiple
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    weights = torch.zeros((len(batch), width), dtype=torch.float32)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, features in enumerate(batch):
        start = width - len(features)
        ids[row, start:] = torch.tensor(features.input_ids)
        labels[row, start:] = torch.tensor(features.labels)
        weights[row, start:] = torch.tensor(features.weights)
        mask[row, start:] = 1
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "labels": labels, "weights": weights}


@dataclass
class SQLCollator:
    """The Trainer's data collator: :func:`collate` with sqlora's pad multiple.

    Batches are padded to a multiple of 16 tokens by default: oneDNN and the allocators keep state per tensor
    shape, so one shape per sequence length makes the resident size climb all run (bench/train_bench.py).
    """

    pad_id: int
    multiple: int = 16

    def __call__(self, batch: list[Features]) -> dict[str, torch.Tensor]:
        return collate(batch, self.pad_id, self.multiple)
