"""Workflow: validate with the shared models, resolve capabilities to ready pools, report status.

The registry is Kubernetes itself: kopf indexes of AgentPools and of their EndpointSlices, kept
current by watches, so a pod turning unready changes every affected Workflow within seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import kopf

from agent_runtime.kube import KubeError
from agent_runtime.policy import ToolPolicy, tool_policy_problems
from agent_runtime.spec.errors import SpecError
from agent_runtime.spec.loader import parse_workflow
from agent_runtime.spec.mermaid import to_mermaid
from agent_runtime.spec.workflow import LlmNode, ToolNode, Workflow
from agents_operator.builders.labels import EXTERNAL_MEMBER_LABEL, POOL_LABEL
from agents_operator.conditions import Health, conditions
from agents_operator.handlers.context import (
    GROUP,
    VERSION,
    context_of,
    plain,
    trimmed,
    write_status_if_changed,
)
from agents_operator.handlers.members import Members, live, members_changed, recount
from agents_operator.reconciles import count_managed, reconciling

log = logging.getLogger(__name__)
KIND = "Workflow"
MAX_PROBLEMS = 5
#: Seconds between recounts of a pool's external members (they lapse with no event).
RECOUNT_EVERY = 5.0


@kopf.index(GROUP, VERSION, "agentpools")
async def pool_capabilities(namespace: str, name: str, spec: kopf.Spec, **_: Any) -> dict[str, Any]:
    return {namespace: (name, tuple(spec.get("capabilities") or ()))}


@kopf.index("discovery.k8s.io", "v1", "endpointslices", labels={POOL_LABEL: kopf.PRESENT})
async def pool_endpoints(
    namespace: str, name: str, labels: kopf.Labels, body: kopf.Body, **_: Any
) -> dict[Any, Any]:
    ready = sum(
        len(e.get("addresses") or [])
        for e in body.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready") is not False
    )
    return {(namespace, labels[POOL_LABEL]): (name, ready)}


@kopf.index(GROUP, VERSION, "workflows")
async def workflows_by_namespace(namespace: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {namespace: trimmed(body)}


def needed_capabilities(workflow: Workflow) -> list[str]:
    return sorted({n.capability for n in workflow.spec.nodes if isinstance(n, LlmNode | ToolNode)})


def resolve(
    namespace: str,
    capabilities: Iterable[str],
    pools: kopf.Index[Any, Any],
    endpoints: kopf.Index[Any, Any],
    members: Members | None = None,
) -> dict[str, dict[str, Any]]:
    """capability -> the pools serving it in this namespace, their ready endpoints in the
    cluster and their live external members serving it (agents outside the cluster)."""
    serving = list(pools.get(namespace, []))
    out: dict[str, dict[str, Any]] = {}
    for capability in capabilities:
        names = sorted(name for name, caps in serving if capability in caps)
        ready = {
            name: sum(n for _slice, n in endpoints.get((namespace, name), [])) for name in names
        }
        external = sum(
            capability in caps for name in names for caps in live(members, namespace, name)
        )
        out[capability] = {
            "pools": names,
            "readyEndpoints": sum(ready.values()),
            "externalMembers": external,
        }
    return out


def _stalled(
    status: dict[str, Any],
    reason: str,
    lines: list[str],
    generation: Any,
    previous: Any,
    graph: str = "",
) -> dict[str, Any]:
    extra = f" (and {len(lines) - MAX_PROBLEMS} more)" if len(lines) > MAX_PROBLEMS else ""
    status["conditions"] = conditions(
        Health.STALLED,
        reason=reason,
        message="; ".join(lines[:MAX_PROBLEMS]) + extra,
        generation=generation,
        previous=previous,
    )
    status["capabilities"] = {}
    status["graph"] = graph
    return status


def evaluate(
    body: Any,
    pools: kopf.Index[Any, Any],
    endpoints: kopf.Index[Any, Any],
    policy: ToolPolicy,
    members: Members | None = None,
) -> dict[str, Any]:
    """The status a Workflow should have now. Tools the platform policy refuses stall it, so
    what agents would refuse at run time is seen when the Workflow is applied."""
    meta = body["metadata"]
    namespace, generation = meta.get("namespace") or "default", meta.get("generation")
    previous = (body.get("status") or {}).get("conditions")
    status: dict[str, Any] = {"observedGeneration": generation}
    try:
        workflow = parse_workflow(plain(body))
    except SpecError as exc:
        return _stalled(status, "InvalidSpec", [str(p) for p in exc.problems], generation, previous)
    refused = tool_policy_problems(workflow.spec, policy)
    if refused:
        lines = [str(p) for p in refused]
        graph = to_mermaid(workflow.spec)
        return _stalled(status, "ToolPolicy", lines, generation, previous, graph)
    resolved = resolve(namespace, needed_capabilities(workflow), pools, endpoints, members)
    missing = [c for c, r in resolved.items() if r["readyEndpoints"] + r["externalMembers"] == 0]
    if missing:
        unserved = [c for c in missing if not resolved[c]["pools"]]
        detail = (
            f"no AgentPool serves {', '.join(unserved)}"
            if unserved
            else f"no ready endpoints for {', '.join(missing)}"
        )
        health, reason, message = Health.PROGRESSING, "CapabilitiesUnavailable", detail
    else:
        health, reason = Health.READY, "CapabilitiesServed"
        message = f"valid; {len(resolved)} capabilities served" if resolved else "valid"
    status["conditions"] = conditions(
        health, reason=reason, message=message, generation=generation, previous=previous
    )
    status["capabilities"] = resolved
    status["graph"] = to_mermaid(workflow.spec)
    return status


async def reconcile(
    memo: kopf.Memo,
    body: Any,
    pools: kopf.Index[Any, Any],
    endpoints: kopf.Index[Any, Any],
    members: Members | None = None,
) -> None:
    with reconciling(KIND):
        status = evaluate(body, pools, endpoints, context_of(memo).policy, members)
        await write_status_if_changed(memo, body, KIND, status)


@kopf.on.event(GROUP, VERSION, "workflows")
async def workflow_event(
    event: kopf.RawEvent,
    body: kopf.Body,
    memo: kopf.Memo,
    pool_capabilities: kopf.Index[Any, Any],
    pool_endpoints: kopf.Index[Any, Any],
    workflows_by_namespace: kopf.Index[Any, Any],
    external_members: Members,
    **_: Any,
) -> None:
    count_managed(KIND, workflows_by_namespace)
    if event.get("type") == "DELETED" or body["metadata"].get("deletionTimestamp"):
        return
    await reconcile(memo, body, pool_capabilities, pool_endpoints, external_members)


@kopf.on.event(GROUP, VERSION, "agentpools", id="workflows-on-pools")
@kopf.on.event(
    "discovery.k8s.io",
    "v1",
    "endpointslices",
    labels={POOL_LABEL: kopf.PRESENT},
    id="workflows-on-endpoints",
)
async def serving_changed(
    body: kopf.Body,
    memo: kopf.Memo,
    pool_capabilities: kopf.Index[Any, Any],
    pool_endpoints: kopf.Index[Any, Any],
    workflows_by_namespace: kopf.Index[Any, Any],
    external_members: Members,
    **_: Any,
) -> None:
    """Pools or endpoints of a namespace changed: re-evaluate the Workflows there."""
    await _reevaluate(
        body["metadata"].get("namespace"),
        memo,
        pool_capabilities,
        pool_endpoints,
        workflows_by_namespace,
        external_members,
    )


@kopf.on.event(
    "coordination.k8s.io",
    "v1",
    "leases",
    labels={EXTERNAL_MEMBER_LABEL: kopf.PRESENT},
    id="external-members",
)
async def external_members_changed(
    body: kopf.Body,
    memo: kopf.Memo,
    pool_capabilities: kopf.Index[Any, Any],
    pool_endpoints: kopf.Index[Any, Any],
    workflows_by_namespace: kopf.Index[Any, Any],
    external_members: Members,
    pools_by_name: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """An agent outside the cluster registered, renewed, left or lapsed: when its pool's count
    of live members changed, its status and the namespace's Workflows follow."""
    if await members_changed(body, memo, external_members, pools_by_name):
        await _reevaluate(
            body["metadata"].get("namespace"),
            memo,
            pool_capabilities,
            pool_endpoints,
            workflows_by_namespace,
            external_members,
        )


@kopf.timer(
    GROUP,
    VERSION,
    "agentpools",
    interval=RECOUNT_EVERY,
    when=lambda spec, **_: bool((spec.get("external") or {}).get("enabled")),
    id="recount-external-members",
)
async def external_members_lapsed(
    body: kopf.Body,
    memo: kopf.Memo,
    pool_capabilities: kopf.Index[Any, Any],
    pool_endpoints: kopf.Index[Any, Any],
    workflows_by_namespace: kopf.Index[Any, Any],
    external_members: Members,
    pools_by_name: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """Members lapse with no event (their Lease just stops being renewed): recount."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    if await recount(namespace, name, memo, external_members, pools_by_name):
        await _reevaluate(
            namespace,
            memo,
            pool_capabilities,
            pool_endpoints,
            workflows_by_namespace,
            external_members,
        )


async def _reevaluate(
    namespace: str | None,
    memo: kopf.Memo,
    pool_capabilities: kopf.Index[Any, Any],
    pool_endpoints: kopf.Index[Any, Any],
    workflows_by_namespace: kopf.Index[Any, Any],
    external_members: Members,
) -> None:
    for workflow in list(workflows_by_namespace.get(namespace, [])):
        try:
            await reconcile(memo, workflow, pool_capabilities, pool_endpoints, external_members)
        except (kopf.TemporaryError, kopf.PermanentError) as exc:  # what reconciling made of it
            if not isinstance(exc.__cause__, KubeError):
                raise
            name = workflow["metadata"]["name"]
            log.warning("workflow %s/%s: status not written: %s", namespace, name, exc.__cause__)
