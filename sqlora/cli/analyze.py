"""``sqlora analyze``: classify the wrong answers of an eval report and compare them with another run's."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sqlora.cli.app import app, console, fail


def _runs(path: str) -> tuple[dict, dict | None]:
    """A report's main run (``tuned`` of a two-run document, else the document) and its base run if any."""
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        fail(f"no such report: {path}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        fail(f"cannot read {path} as a JSON report: {err}")
    if not isinstance(document, dict):
        fail(f"{path} is not an eval report (expected a JSON object)")
    if "tuned" in document and "base" in document:
        main, base = document["tuned"], document["base"]
    else:
        main, base = document, None
    if not isinstance(main, dict) or not isinstance(main.get("examples"), list):
        fail(f"{path} has no 'examples' list (write it with `sqlora eval --json` or --report-dir)")
    return main, base


def _db_dir(option: str | None, run: dict) -> str | None:
    if option:
        if not Path(option).is_dir():
            fail(f"--db-dir {option} is not a folder")
        return option
    recorded = run.get("db_dir")
    return recorded if recorded and Path(recorded).is_dir() else None


@app.command("analyze")
def analyze_command(
    report: str = typer.Argument(..., help="An eval report (sqlora eval --json, or report.json of --report-dir)."),
    compare_with: str | None = typer.Option(
        None,
        "--compare",
        help="A report to compare with (e.g. the base model's); default: the base run inside REPORT, if any.",
    ),
    output: str | None = typer.Option(None, "--output", "-o", help="Write analysis.json, .md and .png here."),
    db_dir: str | None = typer.Option(
        None, "--db-dir", help="Folder of <db_id>/<db_id>.sqlite (default: the report's db_dir, when it exists)."
    ),
    n_examples: int = typer.Option(3, "--examples", min=0, help="Examples kept per class."),
) -> None:
    """Classify every wrong answer (invalid SQL, wrong table/join/column/aggregate/filter/...) by comparing it
    with the gold query; with a base run, show which classes tuning fixed and which it broke."""
    from sqlora.evaluation.analysis import analyze, compare
    from sqlora.evaluation.analysis_report import markdown, write_analysis

    run, inner_base = _runs(report)
    base, base_source = inner_base, f"{report} (base run)"
    if compare_with:
        base, _ = _runs(compare_with)
        base_source = compare_with
    folder = _db_dir(db_dir, run)
    document: dict = {"report": report, "label": run.get("label"), "db_dir": folder}
    document["analysis"] = analyze(run["examples"], folder, n_examples)
    comparison = None
    if base is not None:
        base_folder = _db_dir(db_dir, base)
        document.update(compare_with=base_source, base_label=base.get("label"))
        document["base_analysis"] = analyze(base["examples"], base_folder, n_examples)
        comparison = compare(base["examples"], document["base_analysis"], run["examples"], document["analysis"])
        document["comparison"] = comparison
    title = f"sqlora error analysis: {report}"
    if output:
        for path in write_analysis(document, output, title):
            console.print(f"wrote {path}")
    typer.echo(markdown(document["analysis"], comparison, title))
