"""The gateway's refusals as MCP errors: JSON-RPC codes, the field at fault in ``data``.

An unknown tool, another tenant's, and bad arguments are invalid params (-32602, as the MCP
specification asks); other refusals are invalid requests (-32600) or, when the gateway or its
store is at fault, internal errors (-32603). ``data.code`` is the Runs API's stable code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST
from pydantic import ValidationError

from agent_runtime.errors import AgentRuntimeError, http_status
from agent_runtime.gateway.deps import _unstorable as unstorable  # the other routes' own check
from agent_runtime.spec.run_input import InputError

PARAMS_CODES = {"workflow_not_found", "run_not_found", "invalid_input", "invalid_request"}


def unknown_tool(name: str) -> MCPError:
    return MCPError(INVALID_PARAMS, f"Unknown tool: {name}", {"code": "tool_not_found"})


def bad_arguments(problems: list[dict[str, str]], *, prefix: str = "input.") -> MCPError:
    """Invalid params naming each argument at fault (``topic``, not the API's ``input.topic``)."""
    fields = [{"field": p["field"].removeprefix(prefix), "message": p["message"]} for p in problems]
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return MCPError(
        INVALID_PARAMS,
        f"invalid arguments: {message}",
        {"code": "invalid_input", "details": fields},
    )


def problems(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """A model's validation errors as fields and messages (``input.approved``)."""
    return [
        {"field": prefix + ".".join(str(p) for p in e["loc"]) or "arguments", "message": e["msg"]}
        for e in exc.errors()
    ]


def storable(params: dict[str, Any]) -> None:
    """Refuse text no run store keeps (a lone surrogate, NUL) as the other routes do, naming
    the argument (``topic``, ``input.approved``), not as an internal error from the store."""
    found = unstorable(params)
    if found is None:
        return
    path, message = found
    parts = path[1:] if path[:1] == ("arguments",) else path
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    raise bad_arguments([{"field": field or "params", "message": message}], prefix="")


def as_mcp(exc: AgentRuntimeError) -> MCPError:
    if isinstance(exc, InputError):
        return bad_arguments(exc.details)
    data: dict[str, Any] = {"code": exc.code}
    if exc.details is not None:
        data["details"] = exc.details
    if (retry_after := getattr(exc, "retry_after", None)) is not None:
        data["retryAfter"] = retry_after
    status = http_status(exc.code)
    code = INVALID_PARAMS if exc.code in PARAMS_CODES else INVALID_REQUEST
    return MCPError(INTERNAL_ERROR if status >= 500 else code, str(exc), data)


@contextmanager
def mcp_errors() -> Iterator[None]:
    """Raise the package's errors inside as MCP errors (the library answers those as they are;
    anything else it answers as an internal error without the trace)."""
    try:
        yield
    except AgentRuntimeError as exc:
        raise as_mcp(exc) from None
