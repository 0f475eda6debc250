"""``sqlora explain / optimize / transpile / schema / query`` and ``sqlora data from-db``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax

from sqlora.cli.app import app, console, fail, out, show_rows
from sqlora.cli.checks import check_positive, open_database
from sqlora.cli.data import data_app

DB_HELP = (
    "SQLAlchemy URL (sqlite:///f.sqlite, postgresql+psycopg://..., mysql+pymysql://..., duckdb:///f.duckdb) or a file"
)


def _open(url: str, schema: str | None, need_tables: bool = False):
    """The database (connection errors become one ``error:`` line through the CLI's error boundary)."""
    return open_database(url, schema=schema, need_tables=need_tables)


@app.command("explain")
def explain_command(
    sql: str = typer.Argument(..., help="The SQL to explain."),
    dialect: str = typer.Option("sqlite", "--dialect", "-d", help="Dialect the SQL is written in."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Explain a query in plain English (deterministic, no model)."""
    from sqlora.sql.dialects import DialectError, normalize_dialect
    from sqlora.sql.explain import ExplainError, explain_sql
    from sqlora.sql.statements import statement_problem

    try:
        problem = statement_problem(sql, normalize_dialect(dialect))
        if problem:
            fail(f"cannot explain this: {problem}")
        text = explain_sql(sql, dialect)
    except (ExplainError, DialectError) as err:
        fail(str(err))
    if as_json:
        typer.echo(json.dumps({"sql": sql, "dialect": dialect, "explanation": text}))
    else:
        typer.echo(text)


@app.command("transpile")
def transpile_command(
    sql: str = typer.Argument(..., help="The SQL to rewrite."),
    to: str = typer.Option(..., "--to", "-t", help="Target dialect (postgres, mysql, duckdb, tsql, ...)."),
    source: str = typer.Option("sqlite", "--from", "-f", help="Source dialect (default: the training dialect)."),
    pretty: bool = typer.Option(False, "--pretty", help="Format over several lines."),
    strict: bool = typer.Option(False, "--strict", help="Fail on constructs the target cannot express."),
) -> None:
    """Rewrite SQL for another database dialect."""
    from sqlora.sql.dialects import DialectError, normalize_dialect, transpile
    from sqlora.sql.statements import statement_problem

    try:
        problem = statement_problem(sql, normalize_dialect(source))
        if problem:
            fail(f"cannot transpile this: {problem}")
        typer.echo(transpile(sql, to=to, source=source, pretty=pretty, strict=strict))
    except DialectError as err:
        fail(str(err))


@app.command("schema")
def schema_command(
    db: str = typer.Option(..., "--db", help=DB_HELP),
    schema: str | None = typer.Option(None, "--schema", help="Schema / namespace (PostgreSQL, DuckDB)."),
    sample_values: int = typer.Option(0, "--sample-values", "-n", help="Frequent values per column to add."),
    question: str | None = typer.Option(None, "--question", "-q", help="Keep only the tables it is about."),
) -> None:
    """Print the schema context a model gets for this database."""
    database = _open(db, schema, need_tables=True)
    with database:
        typer.echo(database.schema_context(sample_values=sample_values, question=question))


@app.command("query")
def query_command(
    sql: str = typer.Argument(..., help="A read-only query (SELECT / WITH ... SELECT)."),
    db: str = typer.Option(..., "--db", help=DB_HELP),
    schema: str | None = typer.Option(None, "--schema", help="Schema / namespace (PostgreSQL, DuckDB)."),
    max_rows: int = typer.Option(50, "--max-rows", help="Row cap."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds before the query is stopped."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run one query through the read-only gate (refuses anything that could write)."""
    from sqlora.db import QueryError, UnsafeSQLError

    check_positive(max_rows, "--max-rows")
    check_positive(timeout, "--timeout")
    if not sql.strip():
        fail("the SQL is empty")
    database = _open(db, schema)
    with database:
        try:
            result = database.execute_readonly(sql, timeout_s=timeout, max_rows=max_rows)
        except (UnsafeSQLError, QueryError) as err:
            fail(str(err))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), default=str))
        return
    show_rows(result)


@app.command("optimize")
def optimize_command(
    sql: str = typer.Argument(..., help="A read-only query to analyse."),
    db: str = typer.Option(..., "--db", help=DB_HELP),
    schema: str | None = typer.Option(None, "--schema", help="Schema / namespace (PostgreSQL, DuckDB)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Hints from the database's real query plan: missing indexes, SELECT *, unbounded results, ..."""
    from sqlora.db import QueryError, UnsafeSQLError
    from sqlora.db.optimize import optimize_hints

    database = _open(db, schema)
    with database:
        try:
            report = optimize_hints(sql, database)
        except (UnsafeSQLError, QueryError) as err:
            fail(str(err))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    out.print(Panel("\n".join(escape(line) for line in report.plan) or "(empty)", title="query plan"))
    if not report.hints:
        out.print("[green]No hints: the plan looks fine.[/]")
    for hint in report.hints:
        out.print(f"[bold yellow]{hint.kind}[/] {escape(hint.message)}")
        if hint.suggestion:
            out.print(Syntax(hint.suggestion, "sql", theme="ansi_dark"))
    if report.optimized_sql:
        out.print(Panel(Syntax(report.optimized_sql, "sql", theme="ansi_dark"), title="optimized SQL (sqlglot)"))


@data_app.command("from-db")
def from_db_command(
    db: str = typer.Option(..., "--db", help=DB_HELP),
    output: Path = typer.Option(..., "--output", "-o", help="JSONL file to write."),  # noqa: B008
    schema: str | None = typer.Option(None, "--schema", help="Schema / namespace (PostgreSQL, DuckDB)."),
    max_pairs: int = typer.Option(3000, "--max-pairs", help="Most pairs to keep (families drawn round-robin)."),
    seed: int = typer.Option(0, "--seed", help="Seed for phrasings and the order pairs are drawn in."),
) -> None:
    """Generate verified question/SQL pairs from your own database (bootstrap fine-tuning data)."""
    from sqlora.db import DatabaseError
    from sqlora.synth import SynthError, database_examples, generate_pairs, write_jsonl

    database = _open(db, schema, need_tables=True)
    with database:
        try:
            examples = database_examples(database, generate_pairs(database, max_pairs=max_pairs, seed=seed))
        except (DatabaseError, SynthError) as err:
            fail(str(err))
        tables = len(database.tables())
    if not examples:
        fail("no pairs could be generated (empty database?)")
    write_jsonl(examples, output)
    console.print(f"wrote {len(examples)} pairs from {tables} tables to {output}")
