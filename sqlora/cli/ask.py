"""``sqlora ask``: a question over a pasted schema or a live database in, validated SQL (and its rows) out.

Exit codes: 0 the SQL is valid (and, with ``--execute``, it ran); 1 the model answered but its SQL is invalid or
empty, or the database refused or failed it (the SQL is still printed); 2 bad input (see :mod:`sqlora.cli.app`).
"""

from __future__ import annotations

import json
from typing import Any

import typer

from sqlora.cli.app import (
    EXIT_UNUSABLE,
    answering_adapter_option,
    app,
    base_option,
    check_constrained,
    check_precision,
    console,
    constrained_option,
    fail,
    precision_option,
    print_error,
    show_rows,
)
from sqlora.cli.checks import (
    answering_adapter,
    check_positive,
    check_prompt_style,
    check_question,
    check_schema_ddl,
    open_database,
)


def _generator(
    model: str | None, adapter: str | None, prompt_style: str | None, precision: str | None, **options
) -> Any:
    """The generator (one per settings and process: in-process callers reuse the loaded model)."""
    from sqlora.inference.generator import SQLGenerator

    return SQLGenerator.shared(model=model, adapter=adapter, prompt_style=prompt_style, precision=precision, **options)


def _validate(question: str, schema: str | None, db: str | None, execute: bool) -> None:
    check_question(question)
    if schema is not None and db is not None:
        fail("give either --schema (CREATE TABLE text) or --db (a database URL), not both")
    if schema is None and db is None:
        fail("give the database with --db URL, or its schema with --schema 'CREATE TABLE ...'")
    if execute and db is None:
        fail("--execute needs --db URL (a pasted --schema has no rows to run on)")
    if schema is not None:
        check_schema_ddl(schema)


@app.command()
def ask(
    question: str = typer.Argument(..., help="The question in plain English."),
    schema: str | None = typer.Option(None, "--schema", "-s", help="CREATE TABLE statements (pasted schema)."),
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL or database file: the schema is read from it (the question's tables)."
    ),
    db_schema: str | None = typer.Option(None, "--db-schema", help="Schema / namespace in --db (PostgreSQL, DuckDB)."),
    execute: bool = typer.Option(False, "--execute", "-x", help="Run the SQL read-only on --db and show the rows."),
    max_rows: int = typer.Option(50, "--max-rows", help="Row cap for --execute."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds before an --execute query is stopped."),
    model: str | None = typer.Option(None, "--model", "-m", help="Base model (default: embedded SmolLM2)."),
    adapter: str | None = answering_adapter_option(),
    base: bool = base_option(),
    prompt_style: str | None = typer.Option(None, help="article or chat (default: the adapter's, else chat)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON."),
    max_new_tokens: int = typer.Option(160, "--max-new-tokens", min=1, help="Generation budget for the answer."),
    precision: str | None = precision_option(),
    constrained: bool = constrained_option(),
) -> None:
    """Generate SQL for QUESTION over --db (or a pasted --schema), validated against that schema.

    Exit code 0: valid SQL (and with --execute, it ran); 1: invalid or empty SQL, or the query failed; 2: bad input.
    """
    _validate(question, schema, db, execute)
    check_positive(max_rows, "--max-rows")
    check_positive(timeout, "--timeout")
    check_prompt_style(prompt_style)
    check_precision(precision)
    check_constrained(constrained)
    adapter = answering_adapter(model, adapter, base)

    database = open_database(db, schema=db_schema) if db is not None else None
    dialect = database.dialect if database is not None else "sqlite"
    context = database.schema_context(question=question) if database is not None else schema
    generator = _generator(
        model, adapter, prompt_style, precision, max_new_tokens=max_new_tokens, constrained=constrained
    )
    result = generator.generate(question, context, database.value_index if database is not None else None)
    report: dict[str, Any] = {**result.to_dict(), "dialect": dialect, "sqlite_sql": result.sql, "executed": False}
    problem = None
    if not result.sql.strip():
        report["valid"], problem = False, "the model returned no SQL"
    elif not result.valid:
        problem = "the model's SQL is not valid: " + "; ".join(result.errors)
    elif dialect != "sqlite":
        from sqlora.sql.to_dialect import transpile_from_sqlite

        try:
            report["sql"] = transpile_from_sqlite(result.sql, dialect, context)
        except Exception as err:  # noqa: BLE001 - sqlglot's errors and DialectError: the answer is unusable
            report["valid"], problem = False, f"cannot rewrite the SQL for {dialect}: {err}"
    rows = None
    if execute and problem is None:
        from sqlora.db import QueryError, UnsafeSQLError

        try:
            rows = database.execute_readonly(report["sql"], timeout_s=timeout, max_rows=max_rows)
        except (UnsafeSQLError, QueryError) as err:
            problem = f"the query failed on the database: {err}"
        else:
            report.update(executed=True, columns=list(rows.columns), truncated=bool(rows.truncated))
            report["rows"] = [list(row) for row in rows.rows]
    if database is not None:
        database.close()

    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        typer.echo(report["sql"])
        if rows is not None:
            show_rows(rows)
        if problem is None:
            console.print(f"[green]valid[/] ({result.latency_s:.2f} s, {result.generated_tokens} tokens)")
    if problem is not None:
        print_error(problem)
        raise typer.Exit(EXIT_UNUSABLE)
