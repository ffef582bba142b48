"""JWTs of an OpenID provider, verified as kube-apiserver's ``--oidc-*`` flags configure it.

The issuer's discovery document names its JWKS; keys are fetched once and again when a token names
a key id not seen yet (the provider rotated its keys), at most every ``refresh_interval`` seconds so
that tokens with made-up key ids cannot make us hammer the provider.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict

from agent_runtime.auth.bearer import token_digest
from agent_runtime.auth.cache import DecisionCache
from agent_runtime.auth.errors import AuthUnavailable
from agent_runtime.auth.identity import Identity
from agent_runtime.policy.tokens import ALGORITHMS, LEEWAY
from agent_runtime.telemetry.metrics import AuthMetrics

log = logging.getLogger(__name__)


class OidcSettings(BaseModel):
    """Named after kube-apiserver's flags: ``--oidc-issuer-url`` and the rest."""

    model_config = ConfigDict(frozen=True)

    issuer_url: str
    audience: str
    username_claim: str = "sub"
    #: Prepended to usernames. None: as kube-apiserver does, ``ISSUER#`` unless the claim is
    #: ``email``; ``"-"``: nothing.
    username_prefix: str | None = None
    groups_claim: str = "groups"
    groups_prefix: str = ""
    #: CA bundle for the issuer's TLS certificate (default: the system's).
    ca_file: str | None = None

    def prefix(self) -> str:
        if self.username_prefix == "-":
            return ""
        if self.username_prefix is not None:
            return self.username_prefix
        return "" if self.username_claim == "email" else f"{self.issuer_url}#"


class OidcVerifier:
    def __init__(
        self,
        settings: OidcSettings,
        *,
        ttl: float = 60.0,
        refresh_interval: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        discovery_token_file: str | None = None,
    ) -> None:
        """``discovery_token_file``: a bearer token for fetching discovery and keys, for issuers
        that want one (a cluster's ServiceAccount issuer serves them to its accounts)."""
        self.settings = settings
        self.discovery_token_file = discovery_token_file
        self.refresh_interval = refresh_interval
        self._http = httpx.AsyncClient(
            verify=settings.ca_file or True, timeout=10.0, transport=transport
        )
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._ttl = ttl
        self.cache: DecisionCache[tuple[Identity | None, float]] = DecisionCache(
            lambda found: found[1]
        )

    def claims_issuer(self, token: str) -> bool:
        """Whether ``token`` is a JWT naming our issuer (so TokenReview need not be asked)."""
        try:
            # unverified: only to choose which verifier to ask
            claims = json.loads(jws.extract_compact(token.encode()).payload)
        except (JoseError, ValueError, TypeError):
            return False
        return isinstance(claims, dict) and claims.get("iss") == self.settings.issuer_url

    async def authenticate(self, token: str) -> Identity | None:
        """The token's user, or None when it is not a valid token of this issuer for us."""
        found, _ = await self.cache.get(token_digest(token), lambda: self._verify(token))
        return found

    async def _verify(self, token: str) -> tuple[Identity | None, float]:
        """The identity and how long it may be remembered (never past the token's expiry)."""
        try:
            decoded = jwt.decode(token, await self._key_set(), algorithms=list(ALGORITHMS))
        except InvalidKeyIdError:
            if not await self._refresh_keys():
                return None, 5.0
            try:
                decoded = jwt.decode(token, await self._key_set(), algorithms=list(ALGORITHMS))
            except (JoseError, ValueError, TypeError):
                return None, 5.0
        except (JoseError, ValueError, TypeError):
            return None, 5.0
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": self.settings.issuer_url},
            aud={"essential": True, "value": self.settings.audience},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError:
            return None, 5.0
        identity = self._identity(claims)
        if identity is None:
            return None, 5.0
        remaining = float(claims["exp"]) - time.time()
        return identity, max(0.0, min(self._ttl, remaining))

    def _identity(self, claims: dict[str, Any]) -> Identity | None:
        s = self.settings
        username = claims.get(s.username_claim)
        if not isinstance(username, str) or not username:
            return None
        if s.username_claim == "email" and claims.get("email_verified") is False:
            return None  # as kube-apiserver: an unverified email is nobody's name
        groups = claims.get(s.groups_claim, [])
        if isinstance(groups, str):
            groups = [groups]
        if not isinstance(groups, list):
            return None
        return Identity(
            username=s.prefix() + username,
            groups=tuple(s.groups_prefix + str(g) for g in groups),
        )

    async def _key_set(self) -> KeySet:
        if self._keys is None:
            await self._refresh_keys(force=True)
        assert self._keys is not None
        return self._keys

    async def _refresh_keys(self, *, force: bool = False) -> bool:
        """Fetch the JWKS again; False when it was fetched too recently to try."""
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self.refresh_interval:
                return False
            if force and self._keys is not None:
                return True  # another request fetched them meanwhile
            try:
                discovery = await self._get_json(
                    self.settings.issuer_url.rstrip("/") + "/.well-known/openid-configuration"
                )
                if discovery.get("issuer") != self.settings.issuer_url:
                    raise AuthUnavailable(
                        "the OpenID provider's discovery document names another issuer"
                    )
                jwks = await self._get_json(str(discovery["jwks_uri"]))
                self._keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
            except (httpx.HTTPError, KeyError, ValueError, JoseError, OSError) as exc:
                log.warning("fetching the OpenID provider's keys failed: %s", exc)
                raise AuthUnavailable("the OpenID provider's keys could not be fetched") from None
            self._fetched_at = time.monotonic()
            AuthMetrics.for_registry().reviews.labels("OIDCKeys").inc()
            return True

    async def _get_json(self, url: str) -> dict[str, Any]:
        headers = {"Accept": "application/json, application/jwk-set+json"}
        if self.discovery_token_file:
            token = (await asyncio.to_thread(Path(self.discovery_token_file).read_text)).strip()
            headers["Authorization"] = f"Bearer {token}"
        response = await self._http.get(url, headers=headers)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"{url}: not a JSON object")
        return body

    async def aclose(self) -> None:
        await self._http.aclose()
