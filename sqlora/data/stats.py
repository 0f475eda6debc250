"""Dataset statistics: rows, rejected rows, split sizes, token-length percentiles."""

from __future__ import annotations

from collections import Counter

import numpy as np

from sqlora.data.record import LoadResult
from sqlora.data.splits import split_by_group


def token_length_percentiles(lengths: list[int]) -> dict[str, float]:
    if not lengths:
        return {}
    values = np.asarray(lengths)
    return {f"p{q}": float(np.percentile(values, q)) for q in (50, 90, 95, 99)} | {"max": float(values.max())}


def dataset_stats(result: LoadResult, tokenizer=None, prompt_style: str = "article") -> dict:
    """Summarize a load: counts, errors with line numbers, splits and prompt+answer token lengths."""
    splits = split_by_group(result.examples)
    stats = {
        "rows": len(result.examples),
        "skipped": len(result.errors),
        "duplicates": result.duplicates,
        "databases": len({e.group for e in result.examples}),
        "errors": [{"file": e.file, "line": e.line, "reason": e.reason} for e in result.errors],
        "skip_reasons": dict(Counter(e.reason.split(":")[0] for e in result.errors)),
        "splits": splits.sizes(),
    }
    if tokenizer is not None and result.examples:
        from sqlora.prompts.templates import render_prompt

        lengths = [
            len(tokenizer(render_prompt(e.context, e.question, prompt_style, tokenizer) + e.sql).input_ids)
            for e in result.examples
        ]
        stats["token_lengths"] = token_length_percentiles(lengths)
    return stats
