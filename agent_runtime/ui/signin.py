"""Sign-in with OpenID Connect for the dashboard and the chat page, and the two modes of the UI.

**Pass-through** (no issuer configured, the default): the UI has no notion of users. Each page
request's own ``Authorization`` header goes on to the gateway unchanged (``GatewayClient.
acting_for``), so a sign-in proxy in front (oauth2-proxy with ``--pass-authorization-header``,
an ingress's external auth) decides who the user is, and the gateway's ``--auth`` verifies it.

**Sign-in** (``CONFIGURABLE_AGENTS_UI_OIDC_ISSUER_URL``, client id, client secret and external URL
set; see ``signin_settings``): the UI is an OpenID Connect client of its own. A browser without
a session is redirected from any dashboard or chat page to ``/ui/signin``, which sends it to the
provider (authorization code flow with PKCE, by Authlib); the provider returns it to
``EXTERNAL_URL/ui/signin/callback``, where state, nonce and the ID token (signature, issuer,
audience, expiry) are checked and a signed session cookie is set (``session``); then it is back
on the page it asked for. From then on ``signin_gate`` turns the session into ``Authorization:
Bearer <ID token>`` for the gateway, whose ``--oidc-audience`` must be the client id; when the
token runs out it is refreshed with the refresh token, or the user signs in again. ``POST
/ui/signout`` ends the session (at this UI; the provider's own session, if it keeps one, stays).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Scope

from agent_runtime.ui.csrf import COOKIE as CSRF_COOKIE
from agent_runtime.ui.csrf import verify
from agent_runtime.ui.pages import page
from agent_runtime.ui.session import (
    KEY,
    MAX_COOKIE,
    NEXT_KEY,
    cookie_size,
    safe_next,
    session_options,
    with_sessions,
)
from agent_runtime.ui.signin_gate import SignInGate
from agent_runtime.ui.signin_provider import Provider, SignInFailed
from agent_runtime.ui.signin_settings import SignInSettings

log = logging.getLogger(__name__)

router = APIRouter(dependencies=[Depends(verify)])
SIGNIN = "/signin"
SIGNED_OUT = "/signed-out"
#: Dashboard paths open to signed-out browsers (relative to the dashboard's root).
OPEN_PATHS = ("/static", SIGNIN, "/signout", SIGNED_OUT)


@dataclass(frozen=True)
class Problem:
    """What went wrong with a sign-in, shaped for ``_error.html``."""

    status: int
    code: str
    message: str


@dataclass(frozen=True)
class SignIn:
    """The provider client and the session cookie's settings, shared by dashboard and chat."""

    provider: Provider
    session: dict[str, Any]
    dashboard_path: str

    @classmethod
    def configure(
        cls, settings: SignInSettings, *, secret: bytes, dashboard_path: str
    ) -> SignIn | None:
        """None when no issuer is configured (pass-through mode)."""
        if not settings.enabled:
            return None
        assert settings.external_url
        provider = Provider(settings, redirect_uri=settings.redirect_uri(dashboard_path))
        options = session_options(
            secret=secret,
            max_age=settings.session_max_age,
            https=settings.external_url.startswith("https://"),
        )
        return cls(provider, options, dashboard_path)

    def guard_chat(self, chat: ASGIApp, chat_path: str) -> ASGIApp:
        """The chat page behind the same session and sign-in as the dashboard."""

        def signin_path(scope: Scope) -> str:
            root = str(scope.get("root_path", "")).removesuffix(chat_path)
            return f"{root}{self.dashboard_path}{SIGNIN}"

        gate = SignInGate(chat, provider=self.provider, signin_path=signin_path)
        return with_sessions(gate, self.session)


def dashboard_signin_path(scope: Scope) -> str:
    return f"{str(scope.get('root_path', '')).rstrip('/')}{SIGNIN}"


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(request: Request, title: str, problem: Problem | None, status: int) -> HTMLResponse:
    return page(request, "signin.html", {"title": title, "error": problem}, status)


@router.get(SIGNIN, response_model=None)
async def signin(request: Request, next: str = "") -> Response:  # noqa: A002 - the query name
    """Off to the provider; ``next`` is where to come back to (a path on this site)."""
    provider: Provider = request.app.state.signin.provider
    request.session[NEXT_KEY] = safe_next(next) or f"{_root(request)}/"
    try:
        return await provider.start(request)
    except SignInFailed as exc:
        problem = Problem(exc.status, "signin_failed", str(exc))
        return _page(request, "Sign-in failed", problem, exc.status)


@router.get(f"{SIGNIN}/callback", response_model=None)
async def callback(request: Request) -> Response:
    """The provider's answer: a session for the verified user, then back where they were."""
    provider: Provider = request.app.state.signin.provider
    try:
        signed_in = await provider.finish(request)
    except SignInFailed as exc:
        log.info("a sign-in failed: %s", exc)
        problem = Problem(exc.status, "signin_failed", str(exc))
        return _page(request, "Sign-in failed", problem, exc.status)
    target = safe_next(request.session.get(NEXT_KEY)) or f"{_root(request)}/"
    request.session.clear()  # nothing from before the sign-in survives it
    request.session[KEY] = signed_in.to_session()
    if cookie_size(request.session) > MAX_COOKIE:
        request.session.clear()
        problem = Problem(
            500,
            "session_too_large",
            "the provider's tokens are too large to keep in a cookie "
            f"(over {MAX_COOKIE} bytes); ask for fewer scopes or claims",
        )
        return _page(request, "Sign-in failed", problem, 500)
    log.info("signed in: %s", signed_in.user)
    response = RedirectResponse(target, status_code=303)
    # A new form-signing session too: nobody who planted one before the sign-in shares it.
    response.delete_cookie(CSRF_COOKIE, path=_root(request) or "/")
    return response


@router.post("/signout", response_model=None)
async def signout(request: Request) -> Response:
    """End this browser's session (a form post with the CSRF token, so no other site can)."""
    request.session.clear()
    return RedirectResponse(f"{_root(request)}{SIGNED_OUT}", status_code=303)


@router.get(SIGNED_OUT, response_class=HTMLResponse)
async def signed_out(request: Request) -> HTMLResponse:
    return _page(request, "Signed out", None, 200)
