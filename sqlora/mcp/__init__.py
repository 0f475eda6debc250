"""sqlora as an MCP server: tools over one database (tables, descriptions, SQL generation, read-only queries,
explanations, optimization hints), served on stdio or streamable HTTP with the official MCP Python SDK.

``build_server(DatabaseTools(Database(url), generator_factory))`` gives the :class:`mcp.server.MCPServer`;
``sqlora mcp --db URL`` runs it.
"""

from sqlora.mcp.server import build_server
from sqlora.mcp.tools import DatabaseTools, ToolSettings

__all__ = ["DatabaseTools", "ToolSettings", "build_server"]
