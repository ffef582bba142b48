"""Agents outside the cluster: registrations with a heartbeat, seen by every gateway replica.

An external agent registers as a member of an AgentPool (its namespace, the capabilities it
serves, and either the address it is reached at or ``pull``) and renews that registration within
its time to live; a member whose heartbeat lapsed is no member any more, at once, in every replica.

Where registrations live: in a cluster, one ``coordination.k8s.io`` Lease per member in the pool's
namespace (``holderIdentity`` the registering user, ``leaseDurationSeconds`` its TTL,
``renewTime`` its last heartbeat). Leases are what Kubernetes itself uses for liveness with a TTL
(node heartbeats, leader election); every gateway replica learns them from a watch, like the
EndpointSlices of in-cluster agents, so the registry is one watch-fed cache with no query per
task; and the operator, which never reads the run store, can count them in the pool's status.
Outside a cluster (one ``serve`` process dispatching to ``--agents``) they live in its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agent_runtime.engine.remote import EXTERNAL_PREFIX, PULL_SCHEME, EndpointSource
from agent_runtime.gateway.registry import CAPABILITY_PREFIX, POOL_LABEL
from agent_runtime.gateway.watches import NamespacedWatches
from agent_runtime.kube import KubeClient

log = logging.getLogger(__name__)

#: Marks the Leases that are external members (the value: ``push`` or ``pull``).
MEMBER_LABEL = "configurable-agents.io/external-member"
ADDRESS_ANNOTATION = "configurable-agents.io/address"
LEASE_VERSION = "coordination.k8s.io/v1"
FIELD_MANAGER = "configurable-agents-gateway"
#: How often lapsed Leases are deleted (any replica may; the registry ignores them at once).
SWEEP_INTERVAL = 5.0


@dataclass(frozen=True)
class Member:
    namespace: str
    pool: str
    name: str
    capabilities: frozenset[str]
    #: ``http(s)://host:port`` of a push member; None for a member that pulls its tasks.
    address: str | None
    #: The user who registered it: only they may renew it, pull its tasks or post its results.
    holder: str
    ttl: float
    #: Epoch seconds of its last heartbeat.
    renewed: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.pool, self.name)

    @property
    def pull(self) -> bool:
        return self.address is None

    @property
    def url(self) -> str:
        """Where the dispatcher sends its tasks: its address (marked as outside the cluster,
        so it gets no credentials meant for the cluster's agents), or its pull queue."""
        if self.address:
            return f"{EXTERNAL_PREFIX}{self.address}"
        return f"{PULL_SCHEME}{self.namespace}/{self.pool}/{self.name}"

    def alive(self, now: float | None = None) -> bool:
        return self.renewed + self.ttl > (time.time() if now is None else now)

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.renewed + self.ttl, UTC)


def lease_name(pool: str, name: str) -> str:
    return f"external.{pool}.{name}"


class MemberStore(ABC):
    """Registrations: written by the routes, read (from a cache) by the registry."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str, str], Member] = {}
        self.changed = asyncio.Condition()

    def live(self, namespace: str | None = None, pool: str | None = None) -> list[Member]:
        """Members whose heartbeat is current, in a stable order."""
        now = time.time()
        return [
            m
            for _, m in sorted(self._members.items())
            if m.alive(now)
            and (namespace is None or m.namespace == namespace)
            and (pool is None or m.pool == pool)
        ]

    def get(self, namespace: str, pool: str, name: str) -> Member | None:
        """The member if it is registered and alive."""
        member = self._members.get((namespace, pool, name))
        return member if member is not None and member.alive() else None

    def endpoints(self, capability: str, namespace: str | None = None) -> list[str]:
        return [m.url for m in self.live(namespace) if capability in m.capabilities]

    async def put(self, member: Member) -> Member:
        """Register or renew (the same call: a heartbeat writes a new ``renewed``)."""
        await self._write(member)
        self._members[member.key] = member
        await self._notify()
        return member

    async def remove(self, member: Member) -> None:
        await self._delete(member)
        self._members.pop(member.key, None)
        await self._notify()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    @abstractmethod
    async def _write(self, member: Member) -> None: ...

    @abstractmethod
    async def _delete(self, member: Member) -> None: ...

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class MemoryMembers(MemberStore):
    """One gateway process with no cluster: registrations in its memory."""

    async def _write(self, member: Member) -> None:
        pass

    async def _delete(self, member: Member) -> None:
        pass


def _micro_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def lease_of(member: Member) -> dict[str, Any]:
    labels = {POOL_LABEL: member.pool, MEMBER_LABEL: "pull" if member.pull else "push"}
    labels |= {f"{CAPABILITY_PREFIX}{c}": "true" for c in sorted(member.capabilities)}
    annotations = {ADDRESS_ANNOTATION: member.address} if member.address else {}
    return {
        "apiVersion": LEASE_VERSION,
        "kind": "Lease",
        "metadata": {
            "name": lease_name(member.pool, member.name),
            "namespace": member.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "holderIdentity": member.holder,
            "leaseDurationSeconds": max(1, round(member.ttl)),
            "renewTime": _micro_time(member.renewed),
        },
    }


def member_of(lease: dict[str, Any]) -> Member | None:
    """The member a Lease records, or None for a Lease that is not one (or is malformed)."""
    meta = lease.get("metadata") or {}
    labels = meta.get("labels") or {}
    spec = lease.get("spec") or {}
    pool = labels.get(POOL_LABEL)
    prefix = f"external.{pool}."
    name = str(meta.get("name", ""))
    if not pool or labels.get(MEMBER_LABEL) not in ("push", "pull") or not name.startswith(prefix):
        return None
    address = (meta.get("annotations") or {}).get(ADDRESS_ANNOTATION)
    return Member(
        namespace=str(meta.get("namespace", "")),
        pool=pool,
        name=name.removeprefix(prefix),
        capabilities=frozenset(
            k.removeprefix(CAPABILITY_PREFIX)
            for k, v in labels.items()
            if k.startswith(CAPABILITY_PREFIX) and v == "true"
        ),
        address=address if labels[MEMBER_LABEL] == "push" else None,
        holder=str(spec.get("holderIdentity", "")),
        ttl=float(spec.get("leaseDurationSeconds") or 0),
        renewed=_epoch(spec.get("renewTime")),
    )


class LeaseMembers(MemberStore):
    """Registrations as Leases in the pools' namespaces; see the module docstring."""

    def __init__(self, client: KubeClient, *, namespaces: Sequence[str] = ()) -> None:
        super().__init__()
        self.client = client
        self.watches = NamespacedWatches(
            client,
            LEASE_VERSION,
            "Lease",
            self._handle,
            namespaces=namespaces,
            labels={MEMBER_LABEL: None},
        )
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.watches.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="sweep lapsed members")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.watches.stop()

    async def _write(self, member: Member) -> None:
        await self.client.apply(lease_of(member), field_manager=FIELD_MANAGER)

    async def _delete(self, member: Member) -> None:
        await self.client.delete(
            LEASE_VERSION, "Lease", member.namespace, lease_name(member.pool, member.name)
        )

    async def _handle(self, scope: str | None, kind: str, obj: dict[str, Any]) -> None:
        if kind == "SYNCED":
            kept = {k: v for k, v in self._members.items() if scope is not None and k[0] != scope}
            listed = [m for m in map(member_of, obj["items"]) if m is not None]
            self._members = kept | {m.key: m for m in listed}
        elif (member := member_of(obj)) is not None:
            if kind == "DELETED":
                self._members.pop(member.key, None)
            else:
                known = self._members.get(member.key)
                # a watch event older than this replica's own write must not undo it
                if known is None or member.renewed >= known.renewed:
                    self._members[member.key] = member
        await self._notify()

    async def _sweep(self) -> None:
        """Delete Leases of lapsed members, so the cluster (and the operator) forgets them too."""
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = time.time()
            for member in [m for m in self._members.values() if not m.alive(now)]:
                try:
                    await self._delete(member)
                except Exception as exc:  # another replica may be sweeping, or access is gone
                    log.debug("could not delete lapsed member %s: %s", member.key, exc)
                if (known := self._members.get(member.key)) is not None and not known.alive():
                    self._members.pop(member.key, None)
                    log.info(
                        "external agent %s/%s/%s lapsed (no heartbeat for %gs)",
                        *member.key,
                        member.ttl,
                    )
            await self._notify()


class WithMembers:
    """One registry, one balancing rule: the in-cluster (or fixed) agents of a capability, then
    its live external members, as one list the dispatcher takes in turn."""

    def __init__(self, base: EndpointSource | None, members: MemberStore) -> None:
        self.base = base
        self.members = members

    def endpoints(self, capability: str, namespace: str | None = None) -> list[str]:
        inside = self.base.endpoints(capability, namespace) if self.base is not None else []
        return [*inside, *self.members.endpoints(capability, namespace)]
