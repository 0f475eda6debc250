"""``sqlora mcp``: the MCP server (tools over one database) on stdio or streamable HTTP."""

from __future__ import annotations

import typer

from sqlora.cli.app import (
    answering_adapter_option,
    app,
    base_option,
    check_precision,
    console,
    fail,
    precision_option,
)
from sqlora.cli.checks import answering_adapter

TRANSPORTS = ("stdio", "http")


@app.command("mcp")
def mcp_server(
    db: str = typer.Option(..., "--db", help="SQLAlchemy URL of the database, e.g. sqlite:///path.sqlite."),
    schema: str | None = typer.Option(None, "--schema", help="Database schema (namespace) to use, e.g. on PostgreSQL."),
    model: str | None = typer.Option(None, "--model", "-m", help="Base model (default: embedded SmolLM2)."),
    adapter: str | None = answering_adapter_option(),
    base: bool = base_option(),
    precision: str | None = precision_option(),
    max_new_tokens: int = typer.Option(160, "--max-new-tokens", help="Most tokens generated per answer."),
    transport: str = typer.Option("stdio", "--transport", "-t", help="stdio (for a local client) or http."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --transport http: interface to bind."),
    port: int = typer.Option(8000, "--port", "-p", help="With --transport http: TCP port (endpoint /mcp)."),
    max_rows: int = typer.Option(1000, "--max-rows", help="Row cap for queries the tools run."),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Timeout for queries the tools run, seconds."),
    log_level: str = typer.Option("warning", "--log-level", help="Server log level (on stderr)."),
) -> None:
    """Serve MCP tools over --db: list and describe tables, generate SQL, run read-only queries, explain, optimize."""
    if transport not in TRANSPORTS:
        fail(f"--transport must be one of {', '.join(TRANSPORTS)}, got '{transport}'")
    if not 0 < port < 65536:
        fail(f"--port must be between 1 and 65535, got {port}")
    if max_rows < 1 or timeout_s <= 0:
        fail("--max-rows and --timeout must be positive")
    if max_new_tokens < 1:
        fail("--max-new-tokens must be at least 1")
    level = log_level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        fail(f"unknown --log-level '{log_level}'")
    check_precision(precision)
    adapter = answering_adapter(model, adapter, base)
    try:
        from sqlora.mcp import DatabaseTools, ToolSettings, build_server
    except ImportError as err:
        fail(f"the MCP server needs the mcp extra: pip install 'sqlora[mcp]' ({err})")
    from sqlora.db.connect import Database

    try:
        database = Database(db, schema=schema)
        database.tables()
    except Exception as err:  # noqa: BLE001 - any failure to open is the user's to fix
        fail(f"cannot open database {db!r}: {err}")

    def load_generator():
        from sqlora.inference.generator import SQLGenerator

        console.print("loading the SQL generator…")
        return SQLGenerator(model=model, adapter=adapter, precision=precision, max_new_tokens=max_new_tokens)

    tools = DatabaseTools(database, load_generator, ToolSettings(max_rows=max_rows, timeout_s=timeout_s))
    server = build_server(tools, log_level=level)
    if transport == "stdio":
        server.run("stdio")
        return
    if host not in ("127.0.0.1", "::1", "localhost"):
        console.print(f"[yellow]warning:[/] serving MCP on {host} without authentication: anyone who can reach it"
                      " can read the database.")  # fmt: skip
    console.print(f"MCP server on http://{host}:{port}/mcp")
    server.run("streamable-http", host=host, port=port)
