"""Who a caller is and what they may do: bearer tokens checked by the API server (TokenReview) or
an OpenID provider, and decisions asked of Kubernetes RBAC (SubjectAccessReview), both cached.

The gateway authenticates every request that reads or writes runs with these; agents use them to
accept tasks only from the gateway.
"""

from agent_runtime.auth.authenticator import Authenticator
from agent_runtime.auth.bearer import bearer_token, token_digest
from agent_runtime.auth.errors import AuthError, AuthUnavailable, Unauthenticated
from agent_runtime.auth.identity import ANONYMOUS, Identity
from agent_runtime.auth.kubernetes import AccessReviewer, TokenReviewer
from agent_runtime.auth.oidc import OidcSettings, OidcVerifier
from agent_runtime.auth.task_tokens import (
    AGENT_AUDIENCE,
    TaskAuthMode,
    TaskTokenSource,
    TaskTokenVerifier,
)

__all__ = [
    "AGENT_AUDIENCE",
    "ANONYMOUS",
    "AccessReviewer",
    "AuthError",
    "AuthUnavailable",
    "Authenticator",
    "Identity",
    "OidcSettings",
    "OidcVerifier",
    "TaskAuthMode",
    "TaskTokenSource",
    "TaskTokenVerifier",
    "TokenReviewer",
    "Unauthenticated",
    "bearer_token",
    "token_digest",
]
