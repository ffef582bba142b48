"""A small MCP server for the tests: ``python mcp_server.py PORT`` serves /mcp (Streamable HTTP)."""

from __future__ import annotations

import sys

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as _Server
    from mcp.server.fastmcp.exceptions import ToolError


def build() -> _Server:
    server = _Server("test-tools")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers.

        Returns their sum.
        """
        return a + b

    @server.tool(structured_output=False)
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    @server.tool()
    def fail(message: str) -> int:
        """Always fails with the message."""
        raise ToolError(message)

    return server


def main() -> None:
    port = int(sys.argv[1])
    server = build()
    try:
        server.run("streamable-http", host="127.0.0.1", port=port)
    except TypeError:  # mcp 1.x takes host and port in the constructor's settings
        server.settings.host = "127.0.0.1"
        server.settings.port = port
        server.run("streamable-http")


if __name__ == "__main__":
    main()
