"""Authentication errors: what the caller is told never includes the token."""

from __future__ import annotations

from agent_runtime.errors import AgentRuntimeError


class AuthError(AgentRuntimeError):
    """Base of this package's errors; the message is safe to show."""

    code = "auth_error"


class Unauthenticated(AuthError):
    """No credential, or one that does not prove who the caller is (answered with 401)."""

    code = "unauthenticated"

    def __init__(self, message: str, *, token_given: bool) -> None:
        super().__init__(message)
        #: Whether a credential was presented (RFC 6750 then says ``error="invalid_token"``).
        self.token_given = token_given


class AuthUnavailable(AuthError):
    """The API server or the OpenID provider could not be asked (answered with 503)."""

    code = "auth_unavailable"
    retryable = True
