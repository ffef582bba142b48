"""The API server as the judge: TokenReview says who a token belongs to, SubjectAccessReview
whether RBAC lets them act. Both answers are cached briefly (``cache``)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from agent_runtime.auth.bearer import token_digest
from agent_runtime.auth.cache import DecisionCache
from agent_runtime.auth.errors import AuthUnavailable
from agent_runtime.auth.identity import Identity
from agent_runtime.kube import KubeClient, KubeError
from agent_runtime.telemetry.metrics import AuthMetrics

log = logging.getLogger(__name__)

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
#: The API group whose ``workflows/runs`` subresource the Runs API is authorized on.
GROUP = "configurable-agents.io"


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
        spec: dict[str, Any] = {"token": token}
        if self.audiences:
            spec["audiences"] = list(self.audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        status = (await _create(self.client, TOKEN_REVIEWS, body, "TokenReview")).get("status", {})
        if not status.get("authenticated"):
            return None
        user = status.get("user", {})
        if self.audiences and not set(status.get("audiences") or ()) & set(self.audiences):
            return None  # an API server that ignores audiences must not widen what we accept
        return Identity(
            username=str(user.get("username", "")),
            uid=str(user.get("uid", "")),
            groups=tuple(user.get("groups") or ()),
            extra={k: tuple(v) for k, v in (user.get("extra") or {}).items()},
        )


class AccessReviewer:
    """May this identity do ``verb`` on ``workflows/runs`` in a namespace? Asked of RBAC."""

    def __init__(self, client: KubeClient, *, ttl: float = 10.0, denied_ttl: float = 5.0) -> None:
        self.client = client
        self.cache: DecisionCache[bool] = DecisionCache(
            lambda allowed: ttl if allowed else denied_ttl
        )

    async def allowed(
        self, identity: Identity, verb: str, *, namespace: str = "", name: str = ""
    ) -> bool:
        """``namespace`` empty: in every namespace (cluster-wide)."""
        key = (identity.key, verb, namespace, name)
        return await self.cache.get(
            key, lambda: self._review(identity, verb, namespace=namespace, name=name)
        )

    async def _review(self, identity: Identity, verb: str, *, namespace: str, name: str) -> bool:
        attributes = {
            "group": GROUP,
            "resource": "workflows",
            "subresource": "runs",
            "verb": verb,
            "namespace": namespace,
            "name": name,
        }
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": identity.username,
                "uid": identity.uid,
                "groups": list(identity.groups),
                "extra": {k: list(v) for k, v in identity.extra.items()},
                "resourceAttributes": {k: v for k, v in attributes.items() if v},
            },
        }
        status = (await _create(self.client, ACCESS_REVIEWS, body, "SubjectAccessReview")).get(
            "status", {}
        )
        return bool(status.get("allowed")) and not status.get("denied")


async def _create(client: KubeClient, path: str, body: dict[str, Any], kind: str) -> dict[str, Any]:
    AuthMetrics.for_registry().reviews.labels(kind).inc()
    try:
        answer = await client.request("POST", path, body=body, content_type="application/json")
    except (KubeError, httpx.HTTPError) as exc:
        # the message is the API server's or the transport's, never the request body
        log.warning("%s failed: %s", kind, exc)
        raise AuthUnavailable(f"the API server could not answer a {kind}") from None
    if answer is None:
        raise AuthUnavailable(f"the API server does not serve {kind}s")
    return answer
