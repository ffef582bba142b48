"""The dashboard app, the standalone UI server's app, and the mount used by ``serve``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from agent_runtime import __version__
from agent_runtime.ui import budgets_page, pages, triggers_page
from agent_runtime.ui.client import GatewayClient
from agent_runtime.ui.csrf import CsrfGuard, CsrfRejected, secret_from_env
from agent_runtime.ui.headers import SecurityHeaders
from agent_runtime.ui.signin_settings import (
    SignInSettings,
    load_signin_settings,
)
from agent_runtime.ui.views import HERE, templates

if TYPE_CHECKING:
    # Imported only when sign-in is configured: Authlib and itsdangerous are not in the UI
    # image's lock, whose dashboard passes each request's Authorization header on.
    from agent_runtime.ui.signin import SignIn

log = logging.getLogger(__name__)
DASHBOARD_PATH = "/ui"
CHAT_PATH = "/chat"


def create_dashboard(
    client: GatewayClient, *, secret: bytes, signin: SignIn | None = None
) -> FastAPI:
    """The dashboard alone, to be mounted at ``/ui``; it reaches the gateway only via ``client``.

    ``secret`` signs the forms' CSRF tokens (see ``csrf``); every response, static files and
    error pages included, gets the security headers of ``headers``. With ``signin`` the pages
    require the UI's own sign-in (see ``signin``); without, they pass each request's
    ``Authorization`` header on.
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
    app.include_router(budgets_page.router)
    app.include_router(triggers_page.router)
    app.state.signin = signin
    if signin is not None:
        from starlette.middleware.sessions import SessionMiddleware

        from agent_runtime.ui.signin import OPEN_PATHS, dashboard_signin_path
        from agent_runtime.ui.signin import router as signin_router
        from agent_runtime.ui.signin_gate import SignInGate

        app.include_router(signin_router)
        # Innermost first: the gate reads the session that SessionMiddleware decoded, and the
        # headers middleware, outermost, marks the session cookie Secure over TLS.
        app.add_middleware(
            SignInGate,
            provider=signin.provider,
            signin_path=dashboard_signin_path,
            open_paths=OPEN_PATHS,
        )
        app.add_middleware(SessionMiddleware, **signin.session)
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


def _signin(settings: SignInSettings, secret: bytes) -> SignIn | None:
    if not settings.enabled:
        return None
    from agent_runtime.ui.signin import SignIn

    return SignIn.configure(settings, secret=secret, dashboard_path=DASHBOARD_PATH)


def mount_ui(
    app: FastAPI,
    gateway_url: str,
    *,
    chat: bool = True,
    secret: bytes | None = None,
    signin: SignInSettings | None = None,
) -> bool:
    """Serve the dashboard at /ui/ (and the chat at /chat/ when Gradio is installed) in ``app``.

    ``/`` redirects to the dashboard. Returns whether the chat page was mounted. Without
    ``secret``, forms and sessions are signed with ``CONFIGURABLE_AGENTS_UI_SECRET`` (else a
    random one, but never with sign-in: UiSecretError). Without ``signin``, its settings come
    from ``CONFIGURABLE_AGENTS_UI_*``; with no issuer there, the UI passes each request's
    ``Authorization`` header on (see ``signin``).
    """
    settings = signin if signin is not None else load_signin_settings()
    secret = secret if secret is not None else secret_from_env(required=settings.enabled)
    bundle = _signin(settings, secret)
    if bundle is not None:
        log.info(
            "the dashboard signs users in with %s as client %s (redirect URI %s)",
            settings.oidc_issuer_url,
            settings.oidc_client_id,
            bundle.provider.redirect_uri,
        )
    client = GatewayClient(gateway_url)
    app.mount(
        DASHBOARD_PATH, create_dashboard(client, secret=secret, signin=bundle), name="dashboard"
    )

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{DASHBOARD_PATH}/", status_code=307)

    chat_page = None
    if chat:
        from agent_runtime.ui.chat import mount_chat

        guard = (lambda page: bundle.guard_chat(page, CHAT_PATH)) if bundle else None
        chat_page = mount_chat(app, gateway_url, path=CHAT_PATH, guard=guard)
    _on_shutdown(app, client.aclose, *([chat_page.aclose] if chat_page else []))
    return chat_page is not None


def create_ui_app(
    gateway_url: str,
    *,
    chat: bool = True,
    secret: bytes | None = None,
    signin: SignInSettings | None = None,
) -> FastAPI:
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

    mount_ui(app, gateway_url, chat=chat, secret=secret, signin=signin)
    return app
