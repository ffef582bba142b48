"""Agents outside the cluster: ``/v1/namespaces/{namespace}/agentpools/{pool}/members``.

An agent registers as a member of an AgentPool (``POST .../members``), renews the registration
with a heartbeat (``POST .../members/{name}/heartbeat``) and leaves (``DELETE``); an agent that
pulls its tasks asks for them (``POST .../members/{name}/tasks``, a long poll) and answers each
(``POST .../members/{name}/tasks/{lease}/result``).

Every call needs ``create`` on ``agentpools/members`` of the pool in its namespace (RBAC, asked
per call and cached briefly): a credential for namespace A can neither join a pool of B nor see a
task of B. A registration belongs to the user who made it: anyone else renewing it, pulling its
tasks or answering them is told it does not exist. In a cluster the pool must exist with
``spec.external.enabled``, and a member serves only capabilities the pool lists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from agent_runtime.auth import Identity
from agent_runtime.engine.remote import PassOver
from agent_runtime.engine.task_stream import refusal
from agent_runtime.executors import TaskResult
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.launch import Refused
from agent_runtime.gateway.members import Member
from agent_runtime.gateway.openapi import errors
from agent_runtime.spec.agentpool import Capability
from agent_runtime.spec.common import DNS_LABEL

log = logging.getLogger(__name__)

router = APIRouter(tags=["members"])

BASE = "/v1/namespaces/{namespace}/agentpools/{pool}/members"
Namespace = Annotated[str, Path(max_length=63, pattern=DNS_LABEL)]
Pool = Annotated[str, Path(max_length=63, pattern=DNS_LABEL)]
Name = Annotated[str, Path(max_length=63, pattern=DNS_LABEL)]
#: Error codes of a pulled task the agent refused before running it.
NOT_STARTED = frozenset({"busy", "draining", "capability_not_served"})
#: Longest a pull waits for a task: below the usual 60 s idle timeouts of proxies on the way.
MAX_WAIT = 50.0


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Registration(Body):
    name: str = Field(max_length=63, pattern=DNS_LABEL, description="The member's name")
    capabilities: list[Capability] = Field(min_length=1, max_length=64)
    address: str | None = Field(
        default=None, max_length=2048, description="http(s)://host:port the gateway posts to"
    )
    pull: bool = Field(default=False, description="Tasks are pulled: no address")
    ttl_seconds: float = Field(default=15.0, ge=3, le=300)

    @field_validator("address")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _one_mode(self) -> Registration:
        if self.pull == (self.address is not None):
            raise ValueError("give either address (the gateway pushes tasks) or pull: true")
        return self


class Heartbeat(Body):
    leases: list[str] = Field(default_factory=list, max_length=10_000)


class TaskFailure(Body):
    code: str = Field(default="task_failed", max_length=64)
    message: str = Field(default="", max_length=10_000)
    retryable: bool = True


class TaskOutcome(Body):
    result: TaskResult | None = None
    error: TaskFailure | None = None

    @model_validator(mode="after")
    def _one(self) -> TaskOutcome:
        if (self.result is None) == (self.error is None):
            raise ValueError("give either result or error")
        return self


def shown(member: Member) -> dict[str, Any]:
    return {
        "namespace": member.namespace,
        "pool": member.pool,
        "name": member.name,
        "capabilities": sorted(member.capabilities),
        "mode": "pull" if member.pull else "push",
        "address": member.address,
        "ttlSeconds": member.ttl,
        "expiresAt": member.expires.isoformat().replace("+00:00", "Z"),
    }


async def _admitted(gateway: Gateway, caller: Identity, namespace: str, pool: str) -> None:
    """Refused (``Refused``, answered with its code's status) unless this gateway takes external
    members of the namespace and RBAC lets the caller join the pool."""
    if gateway.members is None:
        raise Refused(
            "no_external_agents",
            "this gateway executes tasks in its own process: start it with --kubernetes or "
            "--agents to take external agents",
        )
    served = gateway.settings.served_namespaces
    if served and namespace not in served:
        raise Refused("pool_not_found", f"this gateway does not serve namespace {namespace}")
    if not await gateway.access.may_join(caller, namespace, pool):
        raise Refused(
            "forbidden", f"you may not create agentpools/members of {pool} in {namespace}"
        )


async def _pool_takes(
    gateway: Gateway, namespace: str, pool: str, capabilities: list[str], name: str
) -> None:
    """Refused unless the cluster's AgentPool takes this member (nothing to ask without one)."""
    if gateway.pools is None:
        return
    found = await gateway.pools(namespace, pool)
    if found is None:
        raise Refused("pool_not_found", f"no AgentPool {pool} in {namespace}")
    spec = found.get("spec") or {}
    external = spec.get("external") or {}
    if not external.get("enabled"):
        raise Refused(
            "external_members_disabled",
            f"AgentPool {namespace}/{pool} takes no external members (spec.external.enabled)",
        )
    allowed = set(spec.get("capabilities") or [])
    for i, capability in enumerate(capabilities):
        if capability not in allowed:
            field = f"capabilities[{i}]"
            message = (
                f"{capability!r} is not a capability of AgentPool {pool} "
                f"({', '.join(sorted(allowed))})"
            )
            raise Refused(
                "invalid_request",
                f"body.{field}: {message}",
                details=[{"field": field, "message": message}],
            )
    assert gateway.members is not None
    others = [m for m in gateway.members.live(namespace, pool) if m.name != name]
    limit = int(external.get("maxMembers") or 10)
    if len(others) >= limit:
        raise Refused(
            "pool_full",
            f"AgentPool {namespace}/{pool} has its {limit} external members "
            "(spec.external.maxMembers)",
        )


async def _own(gateway: Gateway, caller: Identity, namespace: str, pool: str, name: str) -> Member:
    """The caller's live registration; another's is as good as none (404 either way)."""
    await _admitted(gateway, caller, namespace, pool)
    assert gateway.members is not None
    member = gateway.members.get(namespace, pool, name)
    if member is None or member.holder != caller.username:
        raise Refused(
            "member_not_found",
            f"no live registration {name} of {namespace}/{pool} of yours: register again",
        )
    return member


@router.post(
    BASE,
    operation_id="registerMember",
    status_code=201,
    response_model=None,
    responses=errors(401, 403, 404, 409, 422),
)
async def register(
    gateway: GatewayDep,
    caller: CallerDep,
    namespace: Namespace,
    pool: Pool,
    body: Registration,
) -> dict[str, Any]:
    """Join the pool as an external member (again: renews it and replaces what it says)."""
    await _admitted(gateway, caller, namespace, pool)
    assert gateway.members is not None
    held = gateway.members.get(namespace, pool, body.name)
    if held is not None and held.holder != caller.username:
        raise Refused("member_taken", f"member {body.name} of {namespace}/{pool} is someone else's")
    await _pool_takes(gateway, namespace, pool, body.capabilities, body.name)
    member = await gateway.members.put(
        Member(
            namespace=namespace,
            pool=pool,
            name=body.name,
            capabilities=frozenset(body.capabilities),
            address=body.address,
            holder=caller.username,
            ttl=body.ttl_seconds,
            renewed=time.time(),
        )
    )
    log.info(
        "external agent %s/%s/%s registered (%s) by %s",
        namespace,
        pool,
        body.name,
        "pull" if member.pull else "push",
        caller.username,
    )
    return shown(member)


@router.post(
    BASE + "/{name}/heartbeat",
    operation_id="renewMember",
    response_model=None,
    responses=errors(401, 403, 404, 409, 422),
)
async def heartbeat(
    gateway: GatewayDep,
    caller: CallerDep,
    namespace: Namespace,
    pool: Pool,
    name: Name,
    body: Heartbeat | None = None,
) -> dict[str, Any]:
    """Renew the registration, and the leases of the pulled tasks the member holds; ``lost``
    names the leases it holds no more (their tasks went to another member)."""
    member = await _own(gateway, caller, namespace, pool, name)
    await _pool_takes(gateway, namespace, pool, sorted(member.capabilities), name)
    assert gateway.members is not None
    member = await gateway.members.put(replace(member, renewed=time.time()))
    assert gateway.pulls is not None, "a gateway taking members takes their polls"
    lost = gateway.pulls.renew(member, (body or Heartbeat()).leases)
    return {**shown(member), "lost": lost}


@router.delete(
    BASE + "/{name}",
    operation_id="removeMember",
    status_code=204,
    response_model=None,
    responses=errors(401, 403, 404, 409, 422),
)
async def leave(
    gateway: GatewayDep, caller: CallerDep, namespace: Namespace, pool: Pool, name: Name
) -> Response:
    """Leave the pool at once (an agent stopping), rather than lapse."""
    member = await _own(gateway, caller, namespace, pool, name)
    assert gateway.members is not None
    await gateway.members.remove(member)
    log.info("external agent %s/%s/%s left", namespace, pool, name)
    return Response(status_code=204)


@router.post(
    BASE + "/{name}/tasks",
    operation_id="pullTask",
    response_model=None,
    responses={
        204: {"description": "No task came within wait"},
        **errors(401, 403, 404, 409, 422),
    },
)
async def pull(
    gateway: GatewayDep,
    caller: CallerDep,
    namespace: Namespace,
    pool: Pool,
    name: Name,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 20.0,
) -> dict[str, Any] | Response:
    """The next task for this member (which registered with ``pull``), waiting up to ``wait``
    seconds for one: ``{"lease", "leaseSeconds", "task"}``, or 204."""
    member = await _own(gateway, caller, namespace, pool, name)
    assert gateway.pulls is not None, "a gateway taking members takes their polls"
    if not member.pull:
        raise Refused(
            "member_not_pulling", f"member {name} registered an address: tasks are pushed"
        )
    held = await gateway.pulls.next(member, wait)
    if held is None:
        return Response(status_code=204)
    return {
        "lease": held.lease,
        "leaseSeconds": member.ttl,
        "task": held.task.model_dump(mode="json", by_alias=True),
    }


@router.post(
    BASE + "/{name}/tasks/{lease}/result",
    operation_id="answerTask",
    status_code=204,
    response_model=None,
    responses=errors(401, 403, 404, 409, 422),
)
async def answer(
    gateway: GatewayDep,
    caller: CallerDep,
    namespace: Namespace,
    pool: Pool,
    name: Name,
    lease: Annotated[str, Path(max_length=64)],
    body: TaskOutcome,
) -> Response:
    """The outcome of a pulled task this member holds: its result, or its error."""
    member = await _own(gateway, caller, namespace, pool, name)
    assert gateway.pulls is not None, "a gateway taking members takes their polls"
    held = gateway.pulls.held_by(member, lease)
    if held is None:
        raise Refused(
            "lease_not_found",
            f"member {name} of {namespace}/{pool} holds no task under lease {lease} "
            "(it lapsed, went to another member, or was never this member's)",
        )
    outcome: TaskResult | BaseException
    if body.result is not None:
        outcome = body.result
    elif body.error is not None and body.error.code in NOT_STARTED:
        # refused before it ran (at its limit, draining): like a pod's 429 or 503, the task
        # passes to the next agent and the node's retries are not spent
        outcome = PassOver(f"external agent {namespace}/{pool}/{name} {body.error.code}")
    else:
        assert body.error is not None
        url = f"external agent {namespace}/{pool}/{name}"
        status = 503 if body.error.retryable else 422
        retryable = "true" if body.error.retryable else "false"
        outcome = refusal(url, status, body.error.code, body.error.message, retryable)
    if not gateway.pulls.complete(held, outcome):
        raise Refused("lease_settled", f"the task under lease {lease} was answered already")
    return Response(status_code=204)
