"""Reading a bearer token from an ``Authorization`` header, strictly.

A header that is not exactly ``Bearer <token>`` with RFC 6750's token characters is refused before
anything else looks at it, so odd bytes, NULs or megabyte headers never reach a cache, a log line
or the API server.
"""

from __future__ import annotations

import hashlib
import re

from agent_runtime.auth.errors import Unauthenticated

#: Kubernetes tokens are about 1 KB; OIDC tokens with many groups a few KB.
MAX_TOKEN_LENGTH = 8192
#: RFC 6750 ``b64token``.
TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(header: str | None) -> str:
    """The token of ``Authorization: Bearer <token>``; Unauthenticated otherwise."""
    if header is None or not header.strip():
        raise Unauthenticated("a bearer token is required", token_given=False)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", token_given=True)
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated(
            f"the bearer token is longer than {MAX_TOKEN_LENGTH} characters", token_given=True
        )
    if not TOKEN.fullmatch(token):
        raise Unauthenticated("the bearer token is malformed", token_given=True)
    return token


def token_digest(token: str) -> str:
    """What caches key on: a hash of the token, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()
