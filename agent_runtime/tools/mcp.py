"""Tools served by MCP servers over Streamable HTTP (``{mcp: {url, tool}}``).

Each call opens its own MCP session (initialize, call, terminate) in the calling task. anyio's task
groups inside the MCP client must be exited by the task that entered them, so a session kept open
across calls would tie the tool to one task; opening one per call lets any task call the tool, and
concurrent calls never share a session. What is shared is the HTTP client (its connection pool and
TLS context), owned by the event loop that first used it; calls from another loop get their own.
Measured on loopback (mcp 2.3): about 17 ms a call this way, 36 ms with a fresh HTTP client per
call, 3 ms on a session kept open; small beside an LLM round trip.

Every HTTP client the transport gets is behind the egress guard (``tools.egress``): the server's
URL is checked against the platform policy, and its host resolved and checked, before the first
connection and again on every request, redirects included (mcp 2.x follows a redirect only
within the endpoint's origin; the guard checks each hop it follows). An MCP SDK whose transport
takes no HTTP client of ours (before 1.24) is refused rather than let connect unguarded.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any, TypeVar

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client as _transport  # mcp >= 1.24

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools.base import Tool, ToolError
from agent_runtime.tools.egress import EgressGuard, EgressRefused, Resolver, guarded_client
from agent_runtime.tools.policy import policy_or_default

try:  # mcp 2.x
    from mcp.shared.exceptions import MCPError as _ProtocolError
except ImportError:  # mcp 1.x
    from mcp.shared.exceptions import (  # type: ignore[attr-defined, no-redef]
        McpError as _ProtocolError,
    )

#: Whether the transport takes an HTTP client of ours (mcp 1.24 and later, the pinned range).
_TAKES_CLIENT = "http_client" in inspect.signature(_transport).parameters
_TIMEOUT, _READ_TIMEOUT = 30.0, 300.0  # the SDK's own: a server may hold a stream open


def _http_module() -> ModuleType:
    """The HTTP library the SDK's transport speaks (mcp 2.x uses httpx2, 1.x httpx)."""
    try:
        from mcp.shared import _httpx_utils
    except ImportError:
        return httpx
    module = getattr(_httpx_utils, "httpx2", None) or getattr(_httpx_utils, "httpx", None)
    return module if isinstance(module, ModuleType) else httpx


def _new_client(guard: EgressGuard, **options: Any) -> Any:
    http = _http_module()
    options.setdefault("timeout", http.Timeout(_TIMEOUT, read=_READ_TIMEOUT))
    return guarded_client(guard, http=http, **{k: v for k, v in options.items() if v is not None})


logger = logging.getLogger(__name__)

T = TypeVar("T")


def _field(obj: Any, snake: str, camel: str) -> Any:
    """A field of an MCP result: snake_case attributes in mcp 2.x, camelCase in 1.x."""
    return getattr(obj, snake, getattr(obj, camel, None))


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _text_of(content: list[Any]) -> str:
    parts = []
    for block in content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        else:
            mime = _field(block, "mime_type", "mimeType") or ""
            parts.append(f"[{kind} content{' ' + mime if mime else ''} not shown]")
    return "\n".join(parts)


@asynccontextmanager
async def _session(url: str, guard: EgressGuard, http_client: Any) -> AsyncIterator[ClientSession]:
    """A session whose every connection goes through ``guard`` (``http_client`` if given)."""
    if not _TAKES_CLIENT:
        raise ToolError(
            f"MCP server {url}: this mcp package cannot route its connections through the "
            "egress guard; install mcp>=1.24"
        )
    owned = None
    if http_client is None:
        http_client = owned = _new_client(guard)
    try:
        async with _transport(url, http_client=http_client) as streams:
            # 2.x yields (read, write); 1.x adds a session-id getter.
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                yield session
    finally:
        if owned is not None:
            await owned.aclose()


async def _with_session(
    url: str,
    what: str,
    work: Callable[[ClientSession], Awaitable[T]],
    *,
    guard: EgressGuard,
    http_client: Any = None,
) -> T:
    """Run ``work`` in a fresh session; MCP and transport errors become ToolErrors."""
    try:
        async with _session(url, guard, http_client) as session:
            return await work(session)
    except EgressRefused as exc:  # by the guard, on a redirect or a later resolution
        raise EgressRefused(f"MCP server {url}: {what}: {exc}") from None
    except ToolError:
        raise
    except Exception as exc:
        inner = _innermost(exc)
        if isinstance(inner, EgressRefused):
            raise EgressRefused(f"MCP server {url}: {what}: {inner}") from None
        if isinstance(inner, ToolError):
            raise inner from None
        # A JSON-RPC error answer (unknown tool, bad params) will answer the same way again;
        # transport failures (refused, reset, timed out) may not.
        protocol = isinstance(inner, _ProtocolError)
        raise ToolError(
            f"MCP server {url}: {what} failed: {type(inner).__name__}: {inner}",
            retryable=not protocol,
        ) from exc


class McpTool(Tool):
    """One tool of an MCP server, described by the server's own listing."""

    def __init__(
        self,
        *,
        name: str,
        description: str,
        parameters: dict[str, Any],
        url: str,
        remote_name: str,
        guard: EgressGuard,
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.url = url
        self.remote_name = remote_name
        self.guard = guard
        self._http_client: Any = None
        self._http_loop: asyncio.AbstractEventLoop | None = None

    def _shared_client(self) -> Any:
        """The HTTP client of the running loop, or None for a call-owned one (another loop)."""
        if not _TAKES_CLIENT:
            return None
        loop = asyncio.get_running_loop()
        if self._http_client is None:
            self._http_client, self._http_loop = _new_client(self.guard), loop
        return self._http_client if self._http_loop is loop else None

    @classmethod
    async def create(
        cls, spec: ToolSpec, *, policy: ToolPolicy | None = None, resolver: Resolver | None = None
    ) -> McpTool:
        """The server's tool, if the platform ``policy`` (else the environment's) lets us reach it.

        The URL and what its host resolves to are checked before the first connection.
        """
        if spec.mcp is None:
            raise ToolError(f"tool '{spec.name}' is not an mcp tool")
        url = spec.mcp.url
        guard = EgressGuard(policy_or_default(policy), resolver=resolver)
        try:
            await guard.addresses(url)
        except EgressRefused as exc:
            raise EgressRefused(f"tool '{spec.name}': spec.tools[].mcp.url {exc}") from None
        remote_name = spec.mcp.tool or spec.name
        try:
            tools = await _with_session(url, "listing tools", _list_tools, guard=guard)
        except EgressRefused as exc:
            raise EgressRefused(f"tool '{spec.name}': spec.tools[].mcp.url: {exc}") from None
        found = next((t for t in tools if t.name == remote_name), None)
        if found is None:
            have = ", ".join(sorted(t.name for t in tools)) or "no tools"
            raise ToolError(
                f"tool '{spec.name}': MCP server {url} has no tool '{remote_name}'; it has: {have}"
            )
        schema = dict(_field(found, "input_schema", "inputSchema") or {})
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        return cls(
            name=spec.name,
            description=spec.description or inspect.cleandoc(found.description or ""),
            parameters=schema,
            url=url,
            remote_name=remote_name,
            guard=guard,
        )

    async def call(self, args: dict[str, Any]) -> Any:
        async def work(session: ClientSession) -> Any:
            return await session.call_tool(self.remote_name, args)

        try:
            result = await _with_session(
                self.url,
                f"calling '{self.remote_name}'",
                work,
                guard=self.guard,
                http_client=self._shared_client(),
            )
        except EgressRefused as exc:
            raise EgressRefused(f"{self.name}: {exc}") from None
        text = _text_of(result.content)
        if _field(result, "is_error", "isError"):
            raise ToolError(
                f"{self.name}: {text or 'the MCP server reported an error'}", retryable=True
            )
        structured = _field(result, "structured_content", "structuredContent")
        return structured if structured is not None else text

    async def aclose(self) -> None:
        client, loop = self._http_client, self._http_loop
        self._http_client = self._http_loop = None
        if client is not None:
            if loop is asyncio.get_running_loop():
                await client.aclose()
            else:
                logger.debug("mcp tool %s: HTTP client of another event loop dropped", self.name)


async def _list_tools(session: ClientSession) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    while True:
        if cursor is None:
            page = await session.list_tools()
        else:
            page = await session.list_tools(params=_paginated(cursor))
        tools.extend(page.tools)
        cursor = _field(page, "next_cursor", "nextCursor")
        if not cursor:
            return tools


def _paginated(cursor: str) -> Any:
    from mcp import types

    return types.PaginatedRequestParams(cursor=cursor)
