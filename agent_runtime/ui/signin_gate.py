"""The door of the dashboard and the chat page when they sign users in themselves.

An ASGI middleware inside the session middleware. A request of a signed-in browser (its ID token
fresh, or refreshed here) goes on with ``Authorization: Bearer <ID token>`` in place of whatever
header it brought, so the pages' existing pass-through (``GatewayClient.acting_for``, the chat's
``gr.Request``) calls the gateway as that user and nothing else changes. Anyone else is sent to
sign in: a page the browser navigates to redirects there and comes back after; a background
request (htmx, the live feed, Gradio's API) gets a 401, htmx with ``HX-Redirect`` to sign in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from agent_runtime.ui.signin_provider import Provider

#: scope -> the sign-in page's path (``?next=`` is added).
SignInPath = Callable[[Scope], str]


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _relative(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return (path[len(root) :] or "/") if root and path.startswith(root) else path


def _reading(scope: Scope) -> bool:
    return scope.get("method") in ("GET", "HEAD")


def _navigation(scope: Scope) -> bool:
    """A page the browser is opening, or a form it submits (not a script's request)."""
    if _header(scope, b"hx-request"):
        return False
    mode = _header(scope, b"sec-fetch-mode")
    if mode:
        return mode == "navigate"
    return _reading(scope) and "text/html" in _header(scope, b"accept")


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _come_back_to(scope: Scope) -> str:
    """The path (and query) to return to after signing in: the page asked for, the page an
    htmx request came from, or the page whose form was posted (the post is not replayed)."""
    current = _header(scope, b"hx-current-url")
    if current:
        return _path_of(current)
    if not _reading(scope):
        referer = _header(scope, b"referer")
        return _path_of(referer) if referer else "/"
    query = scope.get("query_string", b"").decode("latin-1")
    return str(scope["path"]) + (f"?{query}" if query else "")


class SignInGate:
    """Lets signed-in requests through as their user; ``open_paths`` (relative to the app's
    root, e.g. the sign-in pages and static files) pass without, never with a credential."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        provider: Provider,
        signin_path: SignInPath,
        open_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.provider = provider
        self.signin_path = signin_path
        self.open_paths = open_paths

    def _open(self, scope: Scope) -> bool:
        path = _relative(scope)
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
        if self._open(scope):
            await self.app({**scope, "headers": headers}, receive, send)
            return
        signed_in = await self.provider.current(scope["session"])
        if signed_in is None:
            await self._refuse(scope, receive, send)
            return
        headers.append((b"authorization", f"Bearer {signed_in.id_token}".encode("latin-1")))
        await self.app({**scope, "headers": headers}, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        target = f"{self.signin_path(scope)}?{urlencode({'next': _come_back_to(scope)})}"
        response: Response
        if _navigation(scope):
            response = RedirectResponse(target, status_code=303)
        else:
            body = {"error": {"code": "signin_required", "message": "Sign in first."}}
            response = Response(json.dumps(body), status_code=401, media_type="application/json")
            if _header(scope, b"hx-request"):
                response.headers["HX-Redirect"] = target
        await response(scope, receive, send)
