"""Reports: base vs fine-tuned comparison, a markdown table, JSON and matplotlib plots."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from sqlora.evaluation.hardness import LEVELS

REPORT_JSON, REPORT_MD = "report.json", "report.md"
ACCURACY_PNG, LATENCY_PNG = "accuracy_by_hardness.png", "latency.png"


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def compare(base: Mapping, tuned: Mapping) -> dict:
    """What fine-tuning changed: metric deltas (tuned - base), latency speedup and token ratio."""
    base_latency, tuned_latency = base["latency_s"]["mean"], tuned["latency_s"]["mean"]
    base_tokens, tuned_tokens = base["mean_generated_tokens"], tuned["mean_generated_tokens"]
    return {
        "n": tuned["n"],
        "ex_delta": _delta(base["ex"], tuned["ex"]),
        "em_delta": _delta(base["em"], tuned["em"]),
        "valid_rate_delta": _delta(base["valid_rate"], tuned["valid_rate"]),
        "ex_delta_by_hardness": {
            level: _delta(base["by_hardness"][level]["ex"], tuned["by_hardness"][level]["ex"]) for level in LEVELS
        },
        "speedup": base_latency / tuned_latency if base_latency and tuned_latency else None,
        "tokens_ratio": tuned_tokens / base_tokens if base_tokens and tuned_tokens else None,
        "fixed": sum(
            1 for b, t in zip(base["examples"], tuned["examples"], strict=True) if b["ex"] is False and t["ex"] is True
        ),
        "broken": sum(
            1 for b, t in zip(base["examples"], tuned["examples"], strict=True) if b["ex"] is True and t["ex"] is False
        ),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(reports: Mapping[str, Mapping]) -> str:
    """One row per evaluated model; speedup is relative to the first row (the base model)."""
    headers = ["model", "n", "EX %", "EM %", "valid %"] + [f"EX {lvl} %" for lvl in LEVELS]
    headers += ["mean latency s", "p50 latency s", "tokens/question", "speedup"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    first_latency = next(iter(reports.values()))["latency_s"]["mean"] if reports else None
    for label, rep in reports.items():
        latency = rep["latency_s"]["mean"]
        speedup = first_latency / latency if first_latency and latency else None
        cells = [label, str(rep["n"]), _pct(rep["ex"]), _pct(rep["em"]), _pct(rep["valid_rate"])]
        cells += [f"{_pct(rep['by_hardness'][lvl]['ex'])} ({rep['by_hardness'][lvl]['n']})" for lvl in LEVELS]
        cells += [_num(latency), _num(rep["latency_s"]["p50"]), _num(rep["mean_generated_tokens"], 1)]
        cells.append("-" if speedup is None else f"{speedup:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_accuracy_by_hardness(reports: Mapping[str, Mapping], path: Path) -> Path:
    """Grouped bars: EX per hardness level, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(reports), 1)
    for index, (label, rep) in enumerate(reports.items()):
        values = [100 * (rep["by_hardness"][lvl]["ex"] or 0.0) for lvl in LEVELS]
        positions = [i + index * width for i in range(len(LEVELS))]
        bars = ax.bar(positions, values, width, label=label)
        counts = [rep["by_hardness"][lvl]["n"] for lvl in LEVELS]
        ax.bar_label(bars, labels=[f"{v:.0f}%\nn={n}" for v, n in zip(values, counts, strict=True)], fontsize=7)
    ax.set_xticks([i + width * (len(reports) - 1) / 2 for i in range(len(LEVELS))], LEVELS)
    ax.set_ylabel("execution accuracy (%)")
    ax.set_ylim(0, 110)
    ax.set_title("Execution accuracy by Spider hardness")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_latency(reports: Mapping[str, Mapping], path: Path) -> Path:
    """Per-question latency distribution, one box per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    data = [[e["latency_s"] for e in rep["examples"]] or [0.0] for rep in reports.values()]
    ax.boxplot(data, tick_labels=list(reports))
    ax.set_ylabel("latency per question (s)")
    ax.set_title("Latency distribution")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def build_document(reports: Mapping[str, Mapping]) -> dict:
    """The JSON document: one report as is; for several, each by its label and how each compares with the first.

    Two reports (``base``, ``tuned``) give ``{"base", "tuned", "comparison"}``; more give one entry per label
    plus ``"comparisons"``: ``{label: first vs that label}``.
    """
    if len(reports) == 1:
        return dict(next(iter(reports.values())))
    first, *others = reports
    document: dict = dict(reports)
    if len(others) == 1:
        document["comparison"] = compare(reports[first], reports[others[0]])
    else:
        document["comparisons"] = {label: compare(reports[first], reports[label]) for label in others}
    return document


def write_report(reports: Mapping[str, Mapping], folder: str | Path) -> list[Path]:
    """Write report.json, report.md, accuracy_by_hardness.png and latency.png into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    document = build_document(reports)
    (folder / REPORT_JSON).write_text(json.dumps(document, indent=2))
    text = "# sqlora evaluation\n\n" + markdown_table(reports)
    if "comparison" in document:
        comparison = document["comparison"]
        text += (
            f"\nEX change: {_pct(comparison['ex_delta'])} points; fixed {comparison['fixed']}, "
            f"broken {comparison['broken']} of {comparison['n']} questions.\n"
        )
    text += f"\n![accuracy by hardness]({ACCURACY_PNG})\n\n![latency]({LATENCY_PNG})\n"
    (folder / REPORT_MD).write_text(text)
    plot_accuracy_by_hardness(reports, folder / ACCURACY_PNG)
    plot_latency(reports, folder / LATENCY_PNG)
    return [folder / name for name in (REPORT_JSON, REPORT_MD, ACCURACY_PNG, LATENCY_PNG)]
