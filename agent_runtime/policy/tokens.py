"""What an OpenID Connect ID token must be to count, wherever one is checked: by the gateway's
verifier (``auth.oidc``) and by the dashboard's own sign-in (``ui.signin_provider``).

Here, below both, and free of their dependencies: the UI image has no ``cachetools``, so the
dashboard cannot import ``agent_runtime.auth``.
"""

from __future__ import annotations

#: Asymmetric algorithms only: ``none`` and HMAC (a shared secret) are never accepted, whatever a
#: token's header or a provider's discovery document says.
ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
)
#: Seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
LEEWAY = 30
