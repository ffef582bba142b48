"""Workflows as MCP tools through the `mcp` client (Streamable HTTP), unchanged.

    configurable-agents serve --workflows examples/   # in another terminal
    python examples/clients/mcp_tools.py

GATEWAY (default http://127.0.0.1:8000) and TOKEN (a bearer token; none on a loopback serve) say
where and as whom. Each Workflow the caller may run is a tool named `namespace.name`.
"""

from __future__ import annotations

import asyncio
import os

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

GATEWAY = os.environ.get("GATEWAY", "http://127.0.0.1:8000")
TOKEN = os.environ.get("TOKEN")


async def on_progress(progress: float, total: float | None, message: str | None) -> None:
    print(f"  progress {progress:g}: {message}")


async def main() -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(GATEWAY + "/mcp", http_client=http)
        async with Client(transport) as client:
            tools = await client.list_tools()
            print("tools:", sorted(t.name for t in tools.tools))
            result = await client.call_tool(
                "default.linear-chain", {"topic": "leases"}, progress_callback=on_progress
            )
            print("output:", result.structured_content)


asyncio.run(main())
