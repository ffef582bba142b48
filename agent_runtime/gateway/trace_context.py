"""The caller's trace context (W3C ``traceparent``) of each request, for the runs it starts.

A run started by a request carrying a ``traceparent`` joins the caller's trace: its first
execution's span is a child of the caller's span, so a Workflow that calls another through an
``a2a`` tool (or any traced client) shows as one trace across both. Only the header's form is
checked; a malformed one is ignored, as OpenTelemetry's propagator ignores it.
"""

from __future__ import annotations

import re
from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

_FORM = re.compile(rb"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")

#: The ``traceparent`` of the request being served, if it carried a well-formed one.
CALLER_TRACE: ContextVar[str | None] = ContextVar("caller_traceparent", default=None)


class CallerTrace:
    """ASGI middleware: keeps the request's ``traceparent`` in ``CALLER_TRACE``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"traceparent"), b"").strip().lower()
        token = CALLER_TRACE.set(given.decode() if _FORM.match(given) else None)
        try:
            await self.app(scope, receive, send)
        finally:
            CALLER_TRACE.reset(token)
