"""The OpenID provider as the dashboard's sign-in uses it, through Authlib's Starlette client.

Authlib does the protocol: the authorization code flow with PKCE (S256), ``state`` and ``nonce``
kept in the session and checked on the way back, the code exchanged with the client secret, and
the ID token verified (signature by the provider's JWKS, refetched when the key id is new; issuer;
audience = the client id; expiry; nonce). This module pins what Authlib leaves open: the issuer
is the configured one (not merely what discovery says), only asymmetric signatures count, an ID
token is required, and refreshes of one session are made once, not once per parallel request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import Response

from agent_runtime.policy.tokens import ALGORITHMS, LEEWAY
from agent_runtime.ui.session import EARLY, KEY, SignedIn
from agent_runtime.ui.signin_settings import SignInSettings

log = logging.getLogger(__name__)

#: How long a refresh's outcome is reused by requests that bring the same refresh token (the
#: browser's parallel requests all carry the cookie from before the refresh).
REFRESH_REUSE = 20.0
#: Session keys where Authlib keeps a sign-in's state, nonce and PKCE verifier until it finishes.
STATE_PREFIX = "_state_"


class SignInFailed(Exception):
    """The provider did not sign the user in (refused, unreachable, or a bad answer)."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def _http_errors() -> tuple[type[Exception], ...]:
    """What Authlib's HTTP client raises: httpx2's errors when it is installed (Authlib prefers
    it), else httpx's."""
    errors: list[type[Exception]] = [httpx.HTTPError]
    try:
        import httpx2
    except ImportError:
        return tuple(errors)
    errors.append(httpx2.HTTPError)
    return tuple(errors)


HTTP_ERRORS = _http_errors()
#: What reading the discovery document may raise: those, or an answer that is not JSON.
DISCOVERY_ERRORS: tuple[type[Exception], ...] = (*HTTP_ERRORS, ValueError)


def _unreachable(exc: Exception) -> SignInFailed:
    """A failed exchange with the provider, in one line (httpx adds a second with a link)."""
    said = (str(exc).splitlines() or [type(exc).__name__])[0]
    return SignInFailed(f"the sign-in provider did not answer: {said}", status=502)


def _unusable(exc: ValueError) -> SignInFailed:
    """A token endpoint's answer that is not a JSON object (an HTML error page, say)."""
    return SignInFailed(f"the sign-in provider's token endpoint: {exc}", status=502)


def _verify(settings: SignInSettings) -> ssl.SSLContext | bool:
    if settings.oidc_ca_file:
        return ssl.create_default_context(cafile=settings.oidc_ca_file)
    return True


def _user(claims: dict[str, Any]) -> str:
    for name in ("email", "preferred_username", "name", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            return value
    return "unknown"


class Provider:
    """One registered client of the configured provider; safe to share across requests."""

    def __init__(self, settings: SignInSettings, *, redirect_uri: str) -> None:
        assert settings.oidc_issuer_url and settings.oidc_client_id
        self.issuer = settings.oidc_issuer_url
        self.client_id = settings.oidc_client_id
        self.redirect_uri = redirect_uri
        self._oauth = OAuth()
        self._client: Any = self._oauth.register(
            name="dashboard",
            client_id=settings.oidc_client_id,
            client_secret=settings.client_secret(),
            server_metadata_url=f"{self.issuer.rstrip('/')}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.oidc_scopes,
                "code_challenge_method": "S256",
                "verify": _verify(settings),
                "timeout": 10.0,
            },
        )
        self._refreshes: dict[str, tuple[float, asyncio.Task[SignedIn]]] = {}

    async def _metadata(self) -> dict[str, Any]:
        """Discovery, read once; its issuer must be the configured one (OpenID Discovery 4.3)."""
        try:
            metadata: dict[str, Any] = await self._client.load_server_metadata()
        except DISCOVERY_ERRORS as exc:
            said = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise SignInFailed(
                f"the sign-in provider at {self.issuer} did not answer: {said}", status=502
            ) from None
        if metadata.get("issuer") != self.issuer:
            self._client.server_metadata.clear()  # read again next time
            raise SignInFailed(
                f"the provider's discovery document names issuer {metadata.get('issuer')!r}, "
                f"not {self.issuer!r}",
                status=502,
            )
        supported = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata["id_token_signing_alg_values_supported"] = [
            alg for alg in supported if alg in ALGORITHMS
        ]
        return metadata

    def _claims_options(self) -> dict[str, Any]:
        """Checked on every ID token: Authlib alone checks the audience only through ``azp``."""
        return {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
            "exp": {"essential": True},
        }

    async def start(self, request: Request) -> Response:
        """The redirect to the provider's login; ``state``, ``nonce`` and the PKCE verifier go
        into the session for ``finish``.

        Only a browser's latest sign-in can finish: the state of those it started before is
        dropped first, so the session cookie stays small however often sign-in is started
        (recent Authlib drops its own client's too; this holds whatever its version).
        """
        await self._metadata()
        for stale in [key for key in request.session if key.startswith(STATE_PREFIX)]:
            del request.session[stale]
        try:
            response: Response = await self._client.authorize_redirect(request, self.redirect_uri)
        except HTTP_ERRORS as exc:
            raise _unreachable(exc) from None
        return response

    async def finish(self, request: Request) -> SignedIn:
        """The user of the provider's answer at the redirect URI, verified."""
        await self._metadata()
        try:
            token = await self._client.authorize_access_token(
                request, claims_options=self._claims_options(), leeway=LEEWAY
            )
        except AuthlibBaseError as exc:
            detail = ": ".join(str(part) for part in (exc.error, exc.description) if part)
            raise SignInFailed(f"the sign-in did not complete ({detail})") from None
        except JoseError as exc:
            raise SignInFailed(f"the ID token is not valid ({exc.error}: {exc})") from None
        except HTTP_ERRORS as exc:  # unreachable, or an error status without an OAuth error
            raise _unreachable(exc) from None
        except ValueError as exc:  # an answer that is not a JSON object
            raise _unusable(exc) from None
        return self._signed_in(token, token.get("userinfo"))

    def _signed_in(
        self, token: dict[str, Any], claims: Any, previous: str | None = None
    ) -> SignedIn:
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not isinstance(claims, dict):
            raise SignInFailed("the provider sent no ID token")
        refresh = token.get("refresh_token")
        return SignedIn(
            user=_user(claims),
            id_token=id_token,
            expires_at=int(claims["exp"]),
            refresh_token=refresh if isinstance(refresh, str) else previous,
        )

    async def refresh(self, signed_in: SignedIn) -> SignedIn:
        """A new ID token for the session, by its refresh token; SignInFailed when refused.

        Requests of one browser that arrive together carry the same old refresh token: they
        share one refresh (a provider that rotates refresh tokens would refuse the second).
        """
        assert signed_in.refresh_token
        key = hashlib.sha256(signed_in.refresh_token.encode()).hexdigest()
        now = time.monotonic()
        for old in [k for k, (at, _) in self._refreshes.items() if now - at > REFRESH_REUSE]:
            del self._refreshes[old]
        if key not in self._refreshes:
            task = asyncio.ensure_future(self._refresh(signed_in.refresh_token))
            self._refreshes[key] = (now, task)
        return await asyncio.shield(self._refreshes[key][1])

    async def _refresh(self, refresh_token: str) -> SignedIn:
        await self._metadata()
        try:
            token = await self._client.fetch_access_token(
                grant_type="refresh_token", refresh_token=refresh_token
            )
            claims = await self._client.parse_id_token(
                token, nonce=None, claims_options=self._claims_options(), leeway=LEEWAY
            )
        except AuthlibBaseError as exc:
            raise SignInFailed(f"the provider refused the refresh ({exc.error})") from None
        except JoseError as exc:
            raise SignInFailed(f"the refreshed ID token is not valid ({exc.error})") from None
        except HTTP_ERRORS as exc:
            raise _unreachable(exc) from None
        except ValueError as exc:
            raise _unusable(exc) from None
        fresh = self._signed_in(token, claims, previous=refresh_token)
        if not fresh.fresh():
            raise SignInFailed(f"the refreshed ID token expires within {EARLY} s")
        return fresh

    async def current(self, session: Any) -> SignedIn | None:
        """The session's sign-in with a fresh ID token (refreshed and saved when it had run
        out), or None when the user must sign in (again); a failed refresh ends the session."""
        signed_in = SignedIn.from_session(session)
        if signed_in is None:
            return None
        if signed_in.fresh():
            return signed_in
        if signed_in.refresh_token:
            try:
                renewed = await self.refresh(signed_in)
            except SignInFailed as exc:
                log.info("ending a session of %s: %s", signed_in.user, exc)
            else:
                session[KEY] = renewed.to_session()
                return renewed
        session.clear()
        return None
