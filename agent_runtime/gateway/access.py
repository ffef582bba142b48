"""Who calls the gateway and what RBAC lets them do with runs.

Every route that reads or writes runs asks here, whatever protocol it serves: there is no other
door. Without authentication (a loopback ``serve``, or ``--insecure-no-auth``) every caller is
``system:anonymous`` and may do everything, as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable
from typing import Literal

from agent_runtime.auth import (
    ANONYMOUS,
    AccessReviewer,
    Authenticator,
    Identity,
    OidcSettings,
    OidcVerifier,
    TokenReviewer,
)
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.kube import KubeClient
from agent_runtime.stores import Actor, RunNotFound, RunRecord
from agent_runtime.stores.errors import ThreadNotFound
from agent_runtime.stores.records import ThreadRecord

SCOPED = re.compile(r"[0-9a-f]{16}:")
#: ``create`` starts a run; ``get``/``list`` read runs and events; ``update`` resumes or cancels.
Verb = Literal["create", "get", "list", "update"]


class Access:
    def __init__(
        self, authenticator: Authenticator | None = None, reviewer: AccessReviewer | None = None
    ) -> None:
        if (authenticator is None) != (reviewer is None):
            raise ValueError("authentication and authorization go together")
        self.authenticator = authenticator
        self.reviewer = reviewer

    @classmethod
    def from_settings(cls, settings: GatewaySettings, client: KubeClient | None) -> Access:
        if not settings.auth:
            return cls()
        assert client is not None, "authorization asks the API server"
        reviews = None
        if "kubernetes" in settings.auth:
            reviews = TokenReviewer(client, audiences=tuple(settings.auth_audiences))
        oidc = None
        if "oidc" in settings.auth:
            assert settings.oidc_issuer_url and settings.oidc_audience
            oidc = OidcVerifier(
                OidcSettings(
                    issuer_url=settings.oidc_issuer_url,
                    audience=settings.oidc_audience,
                    username_claim=settings.oidc_username_claim,
                    username_prefix=settings.oidc_username_prefix,
                    groups_claim=settings.oidc_groups_claim,
                    groups_prefix=settings.oidc_groups_prefix,
                    ca_file=settings.oidc_ca_file,
                )
            )
        return cls(Authenticator(kubernetes=reviews, oidc=oidc), AccessReviewer(client))

    @property
    def enabled(self) -> bool:
        return self.authenticator is not None

    async def identify(self, authorization: str | None) -> Identity:
        """The caller of a request with this ``Authorization`` header (Unauthenticated if none)."""
        if self.authenticator is None:
            return ANONYMOUS
        return await self.authenticator.authenticate(authorization)

    async def may(self, caller: Identity, verb: Verb, namespace: str = "", name: str = "") -> bool:
        """Whether RBAC allows ``verb`` on ``workflows/runs`` (``namespace`` empty: everywhere)."""
        if self.reviewer is None:
            return True
        return await self.reviewer.allowed(caller, verb, namespace=namespace, name=name)

    async def may_read_queue(self, caller: Identity, namespace: str) -> bool:
        """Whether RBAC allows ``get`` on ``agentpools/queue`` in ``namespace``: the queue's
        figures (counts, no run) for autoscalers, which need no right on runs themselves."""
        if self.reviewer is None:
            return True
        return await self.reviewer.allowed(
            caller, "get", namespace=namespace, resource=("agentpools", "queue")
        )

    async def may_join(self, caller: Identity, namespace: str, pool: str) -> bool:
        """Whether RBAC allows ``create`` on ``agentpools/members`` of ``pool`` in ``namespace``:
        an agent outside the cluster registering as a member of the pool, renewing that, and
        pulling and answering its tasks. It grants no right on runs."""
        if self.reviewer is None:
            return True
        return await self.reviewer.allowed(
            caller, "create", namespace=namespace, name=pool, resource=("agentpools", "members")
        )

    async def readable(self, caller: Identity, run: RunRecord) -> RunRecord:
        """The run, if the caller may read it; else the same RunNotFound as a missing run."""
        if not await self.may(caller, "get", run.namespace, run.workflow):
            raise RunNotFound(run.id)
        return run

    async def readable_thread(self, caller: Identity, thread: ThreadRecord) -> ThreadRecord:
        """The thread, if the caller may read runs of it (its workflow, or its namespace's
        runs while it has none); else the same ThreadNotFound as a missing thread."""
        if not await self.may(caller, "get", thread.namespace, thread.workflow or ""):
            raise ThreadNotFound(thread.id)
        return thread

    async def listable_namespaces(
        self, caller: Identity, candidates: Iterable[str]
    ) -> list[str] | None:
        """The namespaces whose runs the caller may list; None when they may list everywhere."""
        if await self.may(caller, "list"):
            return None
        known = list(dict.fromkeys(candidates))
        allowed = await asyncio.gather(*(self.may(caller, "list", ns) for ns in known))
        return [ns for ns, ok in zip(known, allowed, strict=True) if ok]

    async def aclose(self) -> None:
        if self.authenticator is not None:
            await self.authenticator.aclose()


def actor(identity: Identity) -> Actor:
    return Actor(
        username=identity.username,
        groups=list(identity.groups),
        service_account_namespace=identity.service_account_namespace,
    )


def scoped_key(caller: Identity, key: str) -> str:
    """An idempotency key as stored: another caller reusing it gets a run of their own."""
    return f"{hashlib.sha256(caller.username.encode()).hexdigest()[:16]}:{key}"


def client_key(stored: str | None) -> str | None:
    """The idempotency key as its caller gave it."""
    if stored and SCOPED.match(stored):
        return stored[17:]
    return stored
