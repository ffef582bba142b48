"""What a signed-in browser's session cookie holds, and the middleware that signs it.

The cookie is Starlette's ``SessionMiddleware``: base64 JSON signed with itsdangerous under a key
derived from the UI secret, HttpOnly, SameSite=Lax (``headers.SecurityHeaders`` adds Secure over
TLS). It holds only what calling the gateway as the user needs: the ID token (which the gateway
verifies itself), its expiry, the refresh token when the provider gave one, and a name to show.
A changed byte breaks the signature, and the browser is simply signed out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp

COOKIE = "ca_ui_signin"
KEY = "signin"
NEXT_KEY = "next"
#: A token this close to its expiry counts as expired: the gateway must still accept it when the
#: call that carries it arrives.
EARLY = 30
#: Browsers drop larger cookies (4096 bytes with name and attributes); a session that would not
#: fit is refused at sign-in rather than lost silently, which would loop back to the provider.
MAX_COOKIE = 3800


@dataclass(frozen=True)
class SignedIn:
    """A signed-in user's tokens, as the session keeps them."""

    user: str
    id_token: str
    expires_at: int
    refresh_token: str | None = None

    def fresh(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at - EARLY

    def to_session(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user": self.user, "id": self.id_token, "exp": self.expires_at}
        if self.refresh_token:
            out["refresh"] = self.refresh_token
        return out

    @classmethod
    def from_session(cls, session: MutableMapping[str, Any]) -> SignedIn | None:
        """The session's sign-in, or None (none, or not of the shape this module writes)."""
        held = session.get(KEY)
        if not isinstance(held, dict):
            return None
        user, token, exp = held.get("user"), held.get("id"), held.get("exp")
        refresh = held.get("refresh")
        if not (isinstance(user, str) and isinstance(token, str) and isinstance(exp, int)):
            return None
        return cls(user, token, exp, refresh if isinstance(refresh, str) else None)


def cookie_size(session: MutableMapping[str, Any]) -> int:
    """About the size of the cookie that holds ``session`` (payload plus signature)."""
    return len(base64.b64encode(json.dumps(session).encode())) + len(COOKIE) + 60


def session_key(secret: bytes) -> str:
    """The session's signing key: derived from the UI secret, never equal to the CSRF key."""
    return hmac.new(secret, b"ui-session", hashlib.sha256).hexdigest()


def session_options(*, secret: bytes, max_age: int, https: bool) -> dict[str, Any]:
    """``SessionMiddleware``'s arguments: one cookie for the whole site, so the dashboard and
    the chat page share it; it ends ``max_age`` seconds after sign-in or the last refresh."""
    return {
        "secret_key": session_key(secret),
        "session_cookie": COOKIE,
        "max_age": max_age,
        "path": "/",
        "same_site": "lax",
        "https_only": https,
    }


def with_sessions(app: ASGIApp, options: dict[str, Any]) -> ASGIApp:
    """``app`` with the signed session in ``scope["session"]``."""
    from starlette.middleware.sessions import SessionMiddleware  # imports itsdangerous

    return SessionMiddleware(app, **options)


def safe_next(value: object) -> str | None:
    """A path on this site to come back to after sign-in, or None (never another site's URL)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x20 for c in value) or len(value) > 2000:
        return None
    return value
