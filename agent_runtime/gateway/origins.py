"""Refuses Runs API writes that a browser sends from another site.

The API has no CORS headers, so another site's scripts cannot read its answers; but a plain
HTML form can still POST to it (``/v1/runs/{id}/cancel`` takes no body). Browsers name the page
a request comes from in ``Origin``; API clients (curl, SDKs, the CLI, the dashboard's server side)
send none, so they are never refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from agent_runtime.gateway.errors import error

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class SameOriginWrites:
    """ASGI middleware: a write to ``/v1/`` whose ``Origin`` is another host is a 403."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in WRITES
            and scope["path"].startswith("/v1/")
            and not _same_origin(scope)
        ):
            response = error(
                403,
                "cross_origin",
                "a write to the Runs API from another site's page is refused",
                {"origin": _header(scope, b"origin")},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _same_origin(scope: Scope) -> bool:
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    host = _header(scope, b"host")
    return origin != "null" and host is not None and urlsplit(origin).netloc == host
