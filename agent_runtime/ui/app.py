"""The dashboard app, the standalone UI server's app, and the mount used by ``serve``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from agent_runtime import __version__
from agent_runtime.ui import pages
from agent_runtime.ui.client import GatewayClient
from agent_runtime.ui.csrf import CsrfGuard, CsrfRejected, secret_from_env
from agent_runtime.ui.headers import SecurityHeaders
from agent_runtime.ui.views import HERE, templates

log = logging.getLogger(__name__)
DASHBOARD_PATH = "/ui"
CHAT_PATH = "/chat"


def create_dashboard(client: GatewayClient, *, secret: bytes) -> FastAPI:
    """The dashboard alone, to be mounted at ``/ui``; it reaches the gateway only via ``client``.

    ``secret`` signs the forms' CSRF tokens (see ``csrf``); every response, static files and
    error pages included, gets the security headers of ``headers``.
    """
    app = FastAPI(
        title="configurable-agents dashboard", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.client = client
    app.state.csrf = CsrfGuard(secret)
    app.add_exception_handler(CsrfRejected, pages.refused)  # type: ignore[arg-type]
    app.state.templates = templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    app.add_middleware(SecurityHeaders)
    return app


def _on_shutdown(app: FastAPI, *closers: Callable[[], Awaitable[None]]) -> None:
    """Run ``closers`` when ``app`` shuts down (mounted apps get no lifespan of their own)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(parent: Any) -> AsyncIterator[Any]:
        context: AbstractAsyncContextManager[Any] = inner(parent)
        async with context as state:
            try:
                yield state
            finally:
                for close in closers:
                    await close()

    app.router.lifespan_context = lifespan


def mount_ui(
    app: FastAPI, gateway_url: str, *, chat: bool = True, secret: bytes | None = None
) -> bool:
    """Serve the dashboard at /ui/ (and the chat at /chat/ when Gradio is installed) in ``app``.

    ``/`` redirects to the dashboard. Returns whether the chat page was mounted. Without
    ``secret``, forms are signed with ``CONFIGURABLE_AGENTS_UI_SECRET`` (else a random one).
    """
    secret = secret if secret is not None else secret_from_env()
    client = GatewayClient(gateway_url)
    app.mount(DASHBOARD_PATH, create_dashboard(client, secret=secret), name="dashboard")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{DASHBOARD_PATH}/", status_code=307)

    chat_page = None
    if chat:
        from agent_runtime.ui.chat import mount_chat

        chat_page = mount_chat(app, gateway_url, path=CHAT_PATH)
    _on_shutdown(app, client.aclose, *([chat_page.aclose] if chat_page else []))
    return chat_page is not None


def create_ui_app(gateway_url: str, *, chat: bool = True, secret: bytes | None = None) -> FastAPI:
    """The standalone UI server (a sidecar or its own Deployment): dashboard, chat, /healthz."""
    app = FastAPI(
        title="configurable-agents UI",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    mount_ui(app, gateway_url, chat=chat, secret=secret)
    return app
