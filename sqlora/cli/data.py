"""``sqlora data``: inspect and validate datasets."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from sqlora.cli.app import SqloraGroup, app, console, fail, out
from sqlora.cli.checks import check_prompt_style
from sqlora.data.loaders import DataError, load_examples
from sqlora.data.stats import dataset_stats

data_app = typer.Typer(cls=SqloraGroup, help="Inspect and validate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def parse_mapping(pairs: list[str]) -> dict[str, str] | None:
    """``field=column`` options into a mapping (for users' own files)."""
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or field not in ("question", "context", "sql", "db_id", "db_path"):
            fail(f"bad --map '{pair}': use FIELD=COLUMN with FIELD in question, context, sql, db_id, db_path")
        mapping[field] = column
    return mapping or None


@data_app.command("stats")
def stats(
    path: str = typer.Argument(..., help="A .json/.jsonl/.csv/.parquet file, a Spider folder or a hub id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    strict: bool = typer.Option(False, "--strict", help="Fail on the first malformed row."),
    tokenizer: str | None = typer.Option(None, help="Tokenizer for length percentiles (default: embedded)."),
    no_tokens: bool = typer.Option(False, "--no-tokens", help="Skip token-length percentiles."),
    column_map: list[str] = typer.Option([], "--map", help="FIELD=COLUMN for your own files."),  # noqa: B008
    prompt_style: str = typer.Option("article", help="Prompt style counted in token lengths."),
) -> None:
    """Rows kept, rows skipped (with line numbers and reasons), split sizes and token lengths.

    Exits 2 when no row is usable (the first reasons are shown).
    """
    check_prompt_style(prompt_style)
    try:
        result = load_examples(path, strict=strict, mapping=parse_mapping(column_map))
    except DataError as err:
        fail(str(err))
    if not result.examples:
        for error in result.errors[:5]:
            console.print(f"[yellow]skipped[/] {escape(str(error))}", soft_wrap=True)
        reasons = f"{len(result.errors)} rows skipped" if result.errors else "the source has no rows"
        fail(f"no usable rows in {path} ({reasons})")
    tok = None
    if not no_tokens:
        from sqlora.models.loading import load_tokenizer

        tok = load_tokenizer(tokenizer)
    summary = dataset_stats(result, tok, prompt_style)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=f"{Path(path).name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("rows", "skipped", "duplicates", "databases"):
        table.add_row(key, str(summary[key]))
    for name, size in summary["splits"].items():
        table.add_row(f"split {name}", str(size))
    for name, value in summary.get("token_lengths", {}).items():
        table.add_row(f"tokens {name}", f"{value:.0f}")
    out.print(table)
    for error in result.errors[:50]:
        console.print(f"[yellow]skipped[/] {escape(str(error))}", soft_wrap=True)
    if len(result.errors) > 50:
        console.print(f"... and {len(result.errors) - 50} more (use --json for all)")
