"""The API server as the judge: TokenReview says who a token belongs to, SubjectAccessReview
whether RBAC lets them act. Both answers are cached briefly (``cache``)."""

from __future__ import annotations

import logging
from typing import TypeVar

import httpx2
from lightkube.models.authentication_v1 import TokenReviewSpec
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.authorization_v1 import SubjectAccessReview

from agent_runtime.auth.bearer import token_digest
from agent_runtime.auth.cache import DecisionCache
from agent_runtime.auth.errors import AuthUnavailable
from agent_runtime.auth.identity import Identity
from agent_runtime.kube import KubeClient, KubeError
from agent_runtime.spec.common import API_GROUP
from agent_runtime.telemetry.metrics import AuthMetrics

log = logging.getLogger(__name__)

Review = TypeVar("Review", TokenReview, SubjectAccessReview)
#: The API group whose ``workflows/runs`` subresource the Runs API is authorized on.
GROUP = API_GROUP


class TokenReviewer:
    """Bearer tokens checked by the API server (ServiceAccount tokens and whatever else it accepts).

    ``audiences``: the token must be meant for one of these (empty: the API server's own).
    """

    def __init__(
        self,
        client: KubeClient,
        *,
        audiences: tuple[str, ...] = (),
        ttl: float = 60.0,
        failure_ttl: float = 5.0,
    ) -> None:
        self.client = client
        self.audiences = audiences
        self.cache: DecisionCache[Identity | None] = DecisionCache(
            lambda found: ttl if found is not None else failure_ttl
        )

    async def authenticate(self, token: str) -> Identity | None:
        """The token's user, or None when the API server does not accept it."""
        return await self.cache.get(token_digest(token), lambda: self._review(token))

    async def _review(self, token: str) -> Identity | None:
        spec = TokenReviewSpec(token=token, audiences=list(self.audiences) or None)
        status = (await _create(self.client, TokenReview(spec=spec))).status
        if status is None or not status.authenticated:
            return None
        if self.audiences and not set(status.audiences or ()) & set(self.audiences):
            return None  # an API server that ignores audiences must not widen what we accept
        user = status.user
        return Identity(
            username=(user and user.username) or "",
            uid=(user and user.uid) or "",
            groups=tuple((user and user.groups) or ()),
            extra={k: tuple(v) for k, v in ((user and user.extra) or {}).items()},
        )


class AccessReviewer:
    """May this identity do ``verb`` on ``workflows/runs`` (or another resource of the group)
    in a namespace? Asked of RBAC."""

    def __init__(self, client: KubeClient, *, ttl: float = 10.0, denied_ttl: float = 5.0) -> None:
        self.client = client
        self.cache: DecisionCache[bool] = DecisionCache(
            lambda allowed: ttl if allowed else denied_ttl
        )

    async def allowed(
        self,
        identity: Identity,
        verb: str,
        *,
        namespace: str = "",
        name: str = "",
        resource: tuple[str, str] = ("workflows", "runs"),
    ) -> bool:
        """``namespace`` empty: in every namespace (cluster-wide). ``resource``: (resource,
        subresource) of the group, ``workflows/runs`` unless another is named."""
        key = (identity.key, verb, namespace, name, *resource)
        return await self.cache.get(
            key,
            lambda: self._review(identity, verb, namespace=namespace, name=name, resource=resource),
        )

    async def _review(
        self,
        identity: Identity,
        verb: str,
        *,
        namespace: str,
        name: str,
        resource: tuple[str, str] = ("workflows", "runs"),
    ) -> bool:
        spec = SubjectAccessReviewSpec(
            user=identity.username,
            uid=identity.uid,
            groups=list(identity.groups),
            extra={k: list(v) for k, v in identity.extra.items()},
            resourceAttributes=ResourceAttributes(
                group=GROUP,
                resource=resource[0],
                subresource=resource[1],
                verb=verb,
                namespace=namespace or None,  # none: in every namespace
                name=name or None,
            ),
        )
        status = (await _create(self.client, SubjectAccessReview(spec=spec))).status
        return status is not None and status.allowed and not status.denied


async def _create(client: KubeClient, review: Review) -> Review:
    kind = type(review).__name__
    AuthMetrics.for_registry().reviews.labels(kind).inc()
    try:
        return await client.create(review)
    except KubeError as exc:
        if exc.status == 404:
            raise AuthUnavailable(f"the API server does not serve {kind}s") from None
        log.warning("%s failed: %s", kind, exc)
    except httpx2.HTTPError as exc:
        # the message is the API server's or the transport's, never the request body
        log.warning("%s failed: %s", kind, exc)
    raise AuthUnavailable(f"the API server could not answer a {kind}")
