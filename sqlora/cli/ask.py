"""``sqlora ask``: a question and a schema in, validated SQL out."""

from __future__ import annotations

import json

import typer

from sqlora.cli.app import app, check_precision, console, fail, precision_option


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question in plain English."),
    schema: str | None = typer.Option(None, "--schema", "-s", help="CREATE TABLE statements."),
    model: str | None = typer.Option(None, "--model", "-m", help="Base model (default: embedded SmolLM2)."),
    adapter: str | None = typer.Option(None, "--adapter", "-a", help="A trained LoRA adapter directory."),
    prompt_style: str | None = typer.Option(None, help="article or chat (default: the adapter's, else chat)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    precision: str | None = precision_option(),
) -> None:
    """Generate SQL for QUESTION over --schema, validated against that schema."""
    if not schema:
        fail("give the schema with --schema 'CREATE TABLE ...'")
    check_precision(precision)
    from sqlora.inference.generator import SQLGenerator

    generator = SQLGenerator(model=model, adapter=adapter, prompt_style=prompt_style, precision=precision)
    result = generator.generate(question, schema)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    typer.echo(result.sql)
    status = "[green]valid[/]" if result.valid else "[red]invalid[/]: " + "; ".join(result.errors)
    console.print(f"{status} ({result.latency_s:.2f} s, {result.generated_tokens} tokens)")
