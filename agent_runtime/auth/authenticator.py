"""One front for the configured ways to authenticate: TokenReview, OIDC, or both."""

from __future__ import annotations

from agent_runtime.auth.bearer import bearer_token
from agent_runtime.auth.errors import Unauthenticated
from agent_runtime.auth.identity import Identity
from agent_runtime.auth.kubernetes import TokenReviewer
from agent_runtime.auth.oidc import OidcVerifier


class Authenticator:
    """Turns an ``Authorization`` header into an Identity, or raises Unauthenticated.

    With both modes on, a JWT naming the OIDC issuer is verified locally and everything else goes
    to the API server, so no token is ever shown to a party it was not meant for.
    """

    def __init__(
        self, *, kubernetes: TokenReviewer | None = None, oidc: OidcVerifier | None = None
    ) -> None:
        if kubernetes is None and oidc is None:
            raise ValueError("an Authenticator needs at least one way to authenticate")
        self.kubernetes = kubernetes
        self.oidc = oidc

    async def authenticate(self, header: str | None) -> Identity:
        token = bearer_token(header)
        identity: Identity | None = None
        if self.oidc is not None and (self.kubernetes is None or self.oidc.claims_issuer(token)):
            identity = await self.oidc.authenticate(token)
        elif self.kubernetes is not None:
            identity = await self.kubernetes.authenticate(token)
        if identity is None or not identity.username:
            raise Unauthenticated("the bearer token is not valid here", token_given=True)
        return identity

    async def aclose(self) -> None:
        if self.oidc is not None:
            await self.oidc.aclose()
