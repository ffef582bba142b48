"""Cross-site request forgery: every state-changing request must come from the dashboard's pages.

A signed double-submit token. The browser keeps a random session id in an HttpOnly, SameSite=Lax
cookie; every page carries ``HMAC(secret, id)`` in a hidden form field and in htmx's headers. A
POST must bring both, and they must match: another site can neither read the cookie nor sign an
id of its own. On top of that, an ``Origin`` (or, without one, a ``Referer``) naming another
host is refused. The secret comes from ``CONFIGURABLE_AGENTS_UI_SECRET``, else it is random per
process: replicas behind one address need the same secret, or a form one renders is refused by
the next, and a restart without it makes the open pages' forms stale (a reload mends them). With
sign-in it is required: it also signs the session cookie, which every replica must accept and a
restart must not void.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from fastapi.responses import Response

from agent_runtime.errors import AgentRuntimeError, http_status

log = logging.getLogger(__name__)

SECRET_ENV = "CONFIGURABLE_AGENTS_UI_SECRET"
COOKIE = "ca_ui_session"
FIELD = "csrf-token"  # hyphenated: never the name of a state field
HEADER = "X-CSRF-Token"
MIN_SECRET_LENGTH = 16
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_SESSION = re.compile(r"[A-Za-z0-9_-]{43}")
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


class UiSecretError(AgentRuntimeError, ValueError):
    """The configured secret cannot sign tokens safely (raised at start, never per request)."""

    code = "invalid_settings"


class CsrfRejected(AgentRuntimeError):
    """A state-changing request that did not prove it came from the dashboard; shown as a 403."""

    code = "csrf_rejected"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.message = f"{reason}. Nothing was changed: reload the page and try again."

    @property
    def status(self) -> int:
        return http_status(self.code)


def secret_from_env(environ: Mapping[str, str] | None = None, *, required: bool = False) -> bytes:
    """The signing secret: ``CONFIGURABLE_AGENTS_UI_SECRET``, else (unless ``required``) a random
    one for this process."""
    value = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    if not value and required:
        raise UiSecretError(
            f"{SECRET_ENV}: required with sign-in (it signs the session cookie, which every "
            "replica must accept and a restart must keep); e.g. the output of "
            "`openssl rand -hex 32`"
        )
    if not value:
        log.info(
            "%s is not set: forms are signed with a random secret of this process; "
            "replicas behind one address need the same secret",
            SECRET_ENV,
        )
        return secrets.token_bytes(32)
    if len(value) < MIN_SECRET_LENGTH:
        raise UiSecretError(
            f"{SECRET_ENV}: must be at least {MIN_SECRET_LENGTH} characters, got {len(value)} "
            "(e.g. the output of `openssl rand -hex 32`)"
        )
    return value.encode()


def _netloc(scheme: str, netloc: str) -> str:
    host = netloc.lower()
    return host.removesuffix(_DEFAULT_PORTS.get(scheme, "\0"))


def foreign_origin(request: Request) -> str | None:
    """Why the request's Origin (or Referer) is not this dashboard's host, or None when it is.

    Neither header (a script, curl) is allowed here: the token still has to match.
    """
    header, value = "Origin", request.headers.get("origin")
    if value is None:
        header, value = "Referer", request.headers.get("referer")
        if value is None:
            return None
    if value == "null":
        return f"the request came from an opaque origin ({header}: null)"
    parts = urlsplit(value)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return f"the request's {header} {value!r} is not a web address"
    own = [request.headers.get("host", "")]
    forwarded = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
    if forwarded:
        own.append(forwarded)
    allowed = {_netloc(scheme, h) for h in own if h for scheme in _DEFAULT_PORTS}
    if _netloc(parts.scheme, parts.netloc) not in allowed:
        return (
            f"the request came from another site ({header} {parts.scheme}://{parts.netloc}, "
            f"this dashboard is {own[-1] or 'unknown'})"
        )
    return None


@dataclass(frozen=True)
class CsrfGuard:
    """Issues sessions and the tokens that go with them, and checks requests against them."""

    secret: bytes

    def token(self, session: str) -> str:
        return hmac.new(self.secret, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def session_of(request: Request) -> str | None:
        value = request.cookies.get(COOKIE, "")
        return value if _SESSION.fullmatch(value) else None

    def token_for(self, request: Request) -> str:
        """The token of the request's session ("" without one: its forms will be refused)."""
        session = self.session_of(request)
        return self.token(session) if session else ""

    def issue(self, request: Request) -> tuple[str, str | None]:
        """(token, new session id) for a page: a new session when the browser has none."""
        session = self.session_of(request)
        if session is not None:
            return self.token(session), None
        fresh = secrets.token_urlsafe(32)
        return self.token(fresh), fresh

    @staticmethod
    def set_cookie(request: Request, response: Response, session: str) -> None:
        """The session cookie; ``headers.SecurityHeaders`` adds ``Secure`` over TLS."""
        root = request.scope.get("root_path", "").rstrip("/") or "/"
        response.set_cookie(COOKIE, session, path=root, httponly=True, samesite="lax")

    async def check(self, request: Request) -> None:
        """Raise CsrfRejected unless the request is safe or proves where it came from."""
        if request.method in SAFE_METHODS:
            return
        problem = foreign_origin(request)
        if problem:
            raise CsrfRejected(problem)
        session = self.session_of(request)
        if session is None:
            raise CsrfRejected(
                "the request carried no dashboard session cookie "
                "(it came from another site, or cookies are blocked)"
            )
        sent = request.headers.get(HEADER) or await _form_token(request)
        if not sent:
            raise CsrfRejected("the request carried no CSRF token")
        if not hmac.compare_digest(sent, self.token(session)):
            raise CsrfRejected(
                "the request's CSRF token does not belong to this browser's session "
                "(the page is stale, or the form came from elsewhere)"
            )


async def _form_token(request: Request) -> str:
    """The token field of an urlencoded body (the body is cached, so the page still reads it)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return ""
    body = (await request.body()).decode(errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True)).get(FIELD, "")


async def verify(request: Request) -> None:
    """Router dependency: every state-changing route of the dashboard passes through here."""
    guard: CsrfGuard = request.app.state.csrf
    await guard.check(request)
