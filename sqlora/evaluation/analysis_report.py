"""Error-analysis output: markdown tables, a matplotlib bar plot and the files ``sqlora analyze`` writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from sqlora.evaluation.analysis import CLASSES, LABELS

ANALYSIS_JSON, ANALYSIS_MD, ANALYSIS_PNG = "analysis.json", "analysis.md", "analysis.png"


def _pct(count: int, total: int) -> str:
    return f"{100 * count / total:.0f}" if total else "-"


def class_table(analysis: Mapping, comparison: Mapping | None = None) -> str:
    """One row per class: wrong answers whose first error it is, and answers wrong in that aspect at all.

    With a comparison: the base run's count, and how many tuning fixed (base class -> correct) and broke.
    """
    n = analysis["n"]
    headers = ["class", "answers", "% of questions", "aspect wrong (any)"]
    if comparison:
        headers += ["base answers", "fixed by tuning", "broken by tuning"]
    lines = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    rows = [(name, LABELS[name]) for name in CLASSES]
    for name, label in rows:
        count = analysis["counts"][name]
        cells = [label, str(count), _pct(count, n), str(analysis["aspect_counts"][name])]
        if comparison:
            cells += [
                str(comparison["base_counts"][name]),
                str(len(comparison["fixed"][name])),
                str(len(comparison["broken"][name])),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    total = [f"**wrong** (correct {analysis['n_correct']}, unscored {analysis['n_unscored']})"]
    total += [str(analysis["n_wrong"]), _pct(analysis["n_wrong"], n), ""]
    if comparison:
        base_wrong = sum(comparison["base_counts"].values())
        total += [str(base_wrong), str(comparison["n_fixed"]), str(comparison["n_broken"])]
    lines.append("| " + " | ".join(total) + " |")
    return "\n".join(lines) + "\n"


def error_table(analysis: Mapping) -> str:
    """Invalid answers by the parser's or engine's error class."""
    lines = ["| invalid SQL: error class | answers |", "|---|---:|"]
    lines += [f"| {name} | {count} |" for name, count in analysis["error_classes"].items()]
    return "\n".join(lines) + "\n"


def _example_lines(example: Mapping) -> list[str]:
    lines = [f"- id {example['id']}: {example['question']}", f"  - gold: `{example['gold']}`"]
    lines.append(f"  - pred: `{example['pred'] or '(empty)'}`")
    if example.get("error_class"):
        lines.append(f"  - error: {example['error_class']}")
    for aspect, diff in (example.get("detail") or {}).items():
        lines.append(f"  - {aspect}: `{json.dumps(diff)}`")
    return lines


def markdown(analysis: Mapping, comparison: Mapping | None = None, title: str = "sqlora error analysis") -> str:
    """The whole markdown document: class table, error classes, per-class examples, changed classes."""
    parts = [f"# {title}\n", class_table(analysis, comparison)]
    if analysis["error_classes"]:
        parts.append(error_table(analysis))
    if comparison and comparison["moved"]:
        moved = ["| wrong in both runs, class changed (base -> tuned) | answers |", "|---|---:|"]
        moved += [f"| {pair} | {len(ids)} |" for pair, ids in comparison["moved"].items()]
        parts.append("\n".join(moved) + "\n")
    for name in CLASSES:
        examples = analysis["examples"].get(name)
        if examples:
            body = "\n".join(line for e in examples for line in _example_lines(e))
            parts.append(f"## {LABELS[name]}\n\n{body}\n")
    return "\n".join(parts) + "\n"


def plot_classes(analyses: Mapping[str, Mapping], path: Path) -> Path:
    """Grouped horizontal bars: answers per class, one bar per run (base and tuned when compared)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    height = 0.8 / max(len(analyses), 1)
    for index, (label, analysis) in enumerate(analyses.items()):
        positions = [i + index * height for i in range(len(CLASSES))]
        bars = ax.barh(positions, [analysis["counts"][name] for name in CLASSES], height, label=label)
        ax.bar_label(bars, fontsize=7, padding=2)
    ax.set_yticks([i + height * (len(analyses) - 1) / 2 for i in range(len(CLASSES))], [LABELS[c] for c in CLASSES])
    ax.invert_yaxis()
    ax.set_xlabel("wrong answers (first differing aspect)")
    ax.set_title("Wrong answers by class")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_analysis(document: Mapping, folder: str | Path, title: str = "sqlora error analysis") -> list[Path]:
    """Write analysis.json, analysis.md and analysis.png into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    comparison = document.get("comparison")
    (folder / ANALYSIS_JSON).write_text(json.dumps(document, indent=2))
    text = markdown(document["analysis"], comparison, title) + f"\n![wrong answers by class]({ANALYSIS_PNG})\n"
    (folder / ANALYSIS_MD).write_text(text)
    label = document.get("label") or "report"
    runs = {label: document["analysis"]}
    if document.get("base_analysis"):
        base_label = document.get("base_label") or "base"
        runs = {base_label if base_label != label else f"{base_label} (compared)": document["base_analysis"], **runs}
    plot_classes(runs, folder / ANALYSIS_PNG)
    return [folder / name for name in (ANALYSIS_JSON, ANALYSIS_MD, ANALYSIS_PNG)]
