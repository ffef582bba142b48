"""Security headers on every response of the dashboard (pages, partials, static files, errors).

The pages hold buttons that change runs (approve, cancel), so no other site may frame them; they
run only the scripts served under ``/ui/static``, so an injected tag or attribute cannot run; and
the session cookie never travels over plain HTTP once the dashboard is reached over TLS.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def policy(**directives: str) -> str:
    """A Content-Security-Policy value from ``script_src="'self'"``-style keyword arguments."""
    return "; ".join(f"{name.replace('_', '-')} {value}" for name, value in directives.items())


_BASE = {
    "default_src": "'self'",
    # htmx, its SSE extension, Mermaid and dashboard.js, all from /ui/static: no inline script,
    # no eval (the templates use no hx-on, js: values or trigger filters, which would need it).
    "script_src": "'self'",
    # No inline style: the templates carry no style attributes, and base.html turns off htmx's
    # injected indicator <style> (includeIndicatorStyles), a class the pages never use.
    "style_src": "'self'",
    "img_src": "'self' data:",  # the empty data: favicon
    "connect_src": "'self'",  # htmx's requests and the run page's live feed
    "object_src": "'none'",
    "base_uri": "'none'",
    "form_action": "'self'",
    "frame_ancestors": "'none'",
}

#: Every dashboard page except those below.
DASHBOARD_POLICY = policy(**_BASE)

#: The workflow page: Mermaid draws the graph as SVG with a generated <style> element and style
#: attributes (ids and theme values differ per drawing, so no hash or nonce can name them). Inline
#: style, never inline script, and on this page only.
GRAPH_POLICY = policy(**{**_BASE, "style_src": "'self' 'unsafe-inline'"})

#: The Gradio chat page, as strict as Gradio allows: its index.html carries the app's config in
#: inline <script> elements (rendered per request, so no hash fits) and inline styles, and its
#: components set style attributes, so script and style need 'unsafe-inline' (Gradio offers no
#: nonce). No eval, nothing from other origins, no framing, plugins or foreign base URL.
CHAT_POLICY = policy(
    default_src="'self'",
    script_src="'self' 'unsafe-inline'",
    style_src="'self' 'unsafe-inline'",
    img_src="'self' data:",
    font_src="'self'",
    connect_src="'self'",
    object_src="'none'",
    base_uri="'self'",
    form_action="'self'",
    frame_ancestors="'none'",
)

_FIXED = {
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def over_tls(scope: Scope) -> bool:
    """Whether the browser reached us over HTTPS.

    uvicorn sets the scheme from ``X-Forwarded-Proto`` when it trusts the proxy
    (``FORWARDED_ALLOW_IPS``, loopback by default). The header is also honoured from a proxy it
    does not trust, e.g. an ingress controller in another pod: marking a cookie Secure only
    narrows where the browser sends it, so a forged header can break nothing but its sender's
    own session.
    """
    if scope.get("scheme") in ("https", "wss"):
        return True
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-proto":
            return bool(value.split(b",")[0].strip().lower() == b"https")
    return False


def _secure(cookie: bytes) -> bytes:
    attributes = {part.strip().lower() for part in cookie.split(b";")[1:]}
    return cookie if b"secure" in attributes else cookie + b"; Secure"


class SecurityHeaders:
    """ASGI middleware: sets the headers above on every HTTP response of the wrapped app.

    ``Content-Security-Policy`` is ``csp`` unless the response brings its own (a page whose
    needs differ, like the graph's); the others are always set. Cookies get ``Secure`` over TLS.
    """

    def __init__(self, app: ASGIApp, *, csp: str = DASHBOARD_POLICY) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = over_tls(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = [
                    (name, _secure(value) if tls and name.lower() == b"set-cookie" else value)
                    for name, value in message.get("headers", [])
                ]
                message["headers"] = raw
                headers = MutableHeaders(raw=raw)
                headers.setdefault("Content-Security-Policy", self.csp)
                for name, value in _FIXED.items():
                    headers[name] = value
                if headers.get("content-type", "").startswith(("text/html", "application/json")):
                    # pages hold one user's runs: no shared cache, no back button after sign-out
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
