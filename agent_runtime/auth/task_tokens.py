"""Short-lived tokens on node tasks, so that agents take tasks only from the gateway.

Two ways, both bearer tokens on ``POST /v1/tasks``:

- ``kubernetes``: the gateway sends its projected ServiceAccount token, issued for the agents'
  audience and rotated by the kubelet; agents verify it against the cluster's ServiceAccount issuer
  (its discovery document and JWKS, as any OpenID token: no API-server call per task and no RBAC
  for the agents) and accept only the gateway's accounts.
- ``secret``: outside a cluster, gateway and agents share a secret (from a Secret or the
  environment); the gateway signs a token valid for a minute with it (HS256), agents verify it.

A token that has expired is refused either way, so one caught on the wire is soon worthless.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Literal

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from agent_runtime.auth.bearer import bearer_token
from agent_runtime.auth.errors import Unauthenticated
from agent_runtime.auth.oidc import OidcSettings, OidcVerifier

#: The audience of task tokens, unless configured otherwise.
AGENT_AUDIENCE = "configurable-agents-agent"
#: Who signs tokens with the shared secret.
SECRET_ISSUER = "configurable-agents-gateway"
#: How long a token signed with the shared secret is valid, and re-used before a new one.
SECRET_TOKEN_TTL = 60
#: Seconds between looks at a projected token file (the kubelet rewrites it well before expiry).
REREAD_INTERVAL = 10.0

TaskAuthMode = Literal["none", "kubernetes", "secret"]


class TaskTokenSource:
    """The gateway's side: the ``Authorization`` header for each task it sends."""

    def __init__(
        self,
        *,
        token_file: str | None = None,
        secret: str | None = None,
        audience: str = AGENT_AUDIENCE,
    ) -> None:
        if (token_file is None) == (secret is None):
            raise ValueError("a task token comes from a token file or a shared secret, not both")
        self.token_file = Path(token_file) if token_file else None
        self._key = OctKey.import_key(secret.encode()) if secret else None
        self.audience = audience
        self._token = ""
        self._until = float("-inf")

    def headers(self) -> dict[str, str]:
        now = time.monotonic()
        if now >= self._until:
            self._token, lifetime = self._fresh()
            self._until = now + lifetime
        return {"Authorization": f"Bearer {self._token}"}

    def _fresh(self) -> tuple[str, float]:
        if self.token_file is not None:
            return self.token_file.read_text().strip(), REREAD_INTERVAL
        assert self._key is not None
        now = int(time.time())
        claims = {
            "iss": SECRET_ISSUER,
            "aud": self.audience,
            "iat": now,
            "exp": now + SECRET_TOKEN_TTL,
            "jti": secrets.token_hex(8),
        }
        token = jwt.encode({"alg": "HS256"}, claims, self._key)
        return token, SECRET_TOKEN_TTL / 2  # replaced while it still has half its life


class TaskTokenVerifier:
    """The agent's side: who sent a task, or Unauthenticated (401)."""

    def __init__(
        self,
        mode: TaskAuthMode,
        *,
        audience: str = AGENT_AUDIENCE,
        issuer: str | None = None,
        callers: tuple[str, ...] = (),
        ca_file: str | None = None,
        discovery_token_file: str | None = None,
        secret: str | None = None,
    ) -> None:
        self.mode = mode
        self.audience = audience
        self.callers = frozenset(callers)
        self._oidc: OidcVerifier | None = None
        self._key: OctKey | None = None
        if mode == "kubernetes":
            if not issuer or not callers:
                raise ValueError("kubernetes task tokens need the issuer and the allowed callers")
            self._oidc = OidcVerifier(
                OidcSettings(
                    issuer_url=issuer, audience=audience, username_prefix="-", ca_file=ca_file
                ),
                discovery_token_file=discovery_token_file,
            )
        elif mode == "secret":
            if not secret:
                raise ValueError("secret task tokens need the shared secret")
            self._key = OctKey.import_key(secret.encode())

    async def verify(self, authorization: str | None) -> str:
        """The caller's name (a ServiceAccount, or the gateway of the shared secret)."""
        if self.mode == "none":
            return "anyone"
        token = bearer_token(authorization)
        if self._oidc is not None:
            identity = await self._oidc.authenticate(token)
            if identity is None or identity.username not in self.callers:
                raise Unauthenticated("the task token is not the gateway's", token_given=True)
            return identity.username
        return self._verify_signed(token)

    def _verify_signed(self, token: str) -> str:
        assert self._key is not None
        try:
            decoded = jwt.decode(token, self._key, algorithms=["HS256"])
            jwt.JWTClaimsRegistry(
                leeway=5,
                iss={"essential": True, "value": SECRET_ISSUER},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError, TypeError):
            raise Unauthenticated("the task token is not valid", token_given=True) from None
        if decoded.claims["exp"] - decoded.claims.get("iat", 0) > 10 * SECRET_TOKEN_TTL:
            raise Unauthenticated("the task token lives too long", token_given=True)
        return SECRET_ISSUER

    async def aclose(self) -> None:
        if self._oidc is not None:
            await self._oidc.aclose()


def secret_from_env(name: str = "CONFIGURABLE_AGENTS_TASK_SECRET") -> str | None:
    """The shared secret, from the environment (a Secret mounted as a variable)."""
    return os.environ.get(name) or None
