"""The few aggregates the decoding and latency benchmarks report for one evaluation."""

from __future__ import annotations

import time


def summarize(aggregates: dict, started: float) -> dict:
    """EX, validity, latency and tokens of an ``evaluate`` report, with the wall time since ``started``."""
    return {
        "n": aggregates["n"],
        "ex": aggregates["ex"],
        "valid_rate": aggregates["valid_rate"],
        "latency_s_mean": aggregates["latency_s"]["mean"],
        "latency_s_p90": aggregates["latency_s"]["p90"],
        "mean_generated_tokens": aggregates["mean_generated_tokens"],
        "wall_s": round(time.perf_counter() - started, 1),
    }
