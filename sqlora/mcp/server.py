"""The MCP server: each :class:`~sqlora.mcp.tools.DatabaseTools` method as a tool of an SDK ``MCPServer``."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from pydantic import Field

from sqlora.mcp.models import Explanation, GeneratedSQL, Optimization, QueryRows, TableDescription, TableList
from sqlora.mcp.tools import DatabaseTools

INSTRUCTIONS = (
    "Tools over one SQL database, used read-only. Start with list_tables and describe_table; generate_sql turns a"
    " question into a query with a fine-tuned text-to-SQL model (check its `valid` flag); run_query executes one"
    " read-only query under a timeout and a row cap (anything else is refused); explain_query and optimize_query"
    " describe a query and suggest indexes or rewrites from the database's own plan."
)

SQL = Annotated[str, Field(min_length=1, max_length=16_000, description="One SQL query in the database's dialect.")]
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)


def build_server(tools: DatabaseTools, name: str = "sqlora", log_level: str = "WARNING") -> MCPServer:
    """An MCP server whose tools work on ``tools.database``; run it with ``.run("stdio")`` or
    ``.run("streamable-http", host=..., port=...)``."""
    server = MCPServer(name=name, instructions=INSTRUCTIONS, log_level=log_level)  # type: ignore[arg-type]

    @server.tool(annotations=READ_ONLY)
    def list_tables() -> TableList:
        """The database's tables with their column names, and the SQL dialect to write queries in."""
        return tools.list_tables()

    @server.tool(annotations=READ_ONLY)
    def describe_table(
        table: Annotated[str, Field(min_length=1, max_length=256, description="A table name from list_tables.")],
    ) -> TableDescription:
        """A table's columns and types, primary and foreign keys, and a few sample rows."""
        return tools.describe_table(table)

    @server.tool(annotations=READ_ONLY)
    def generate_sql(
        question: Annotated[str, Field(min_length=1, max_length=2_000, description="A question in English.")],
    ) -> GeneratedSQL:
        """Write a SQL query answering the question, with sqlora's text-to-SQL model, over the tables the question
        is about. The query is not run; `valid` says whether it parsed and uses only existing tables and columns."""
        return tools.generate_sql(question)

    @server.tool(annotations=READ_ONLY)
    def run_query(
        sql: SQL,
        max_rows: Annotated[int | None, Field(ge=1, description="Fewer rows than the server's cap.")] = None,
    ) -> QueryRows:
        """Run one read-only query (SELECT/WITH/UNION) with a timeout and a row cap; writes, DDL, several
        statements and side-effecting functions are refused."""
        return tools.run_query(sql, max_rows)

    @server.tool(annotations=READ_ONLY)
    def explain_query(sql: SQL) -> Explanation:
        """A plain-English description of what a SQL query returns."""
        return tools.explain_query(sql)

    @server.tool(annotations=READ_ONLY)
    def optimize_query(sql: SQL) -> Optimization:
        """The database's query plan for a read-only query, with hints: missing indexes (as CREATE INDEX
        statements to review), full scans, non-sargable filters, and an optimized rewrite."""
        return tools.optimize_query(sql)

    return server
