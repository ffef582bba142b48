"""The queue's figures for autoscalers: ``GET /v1/namespaces/{namespace}/queue``.

KEDA's ``metrics-api`` trigger of an AgentPool on ``autoscaling.metric: queue`` reads ``total``
here. The caller needs only ``get`` on ``agentpools/queue`` in the namespace (a subresource RBAC
names though the API server serves none): counts, never a run, so an autoscaler's token reads
nothing else. Without authentication (a loopback gateway) anyone may ask, as for every route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.errors import error
from agent_runtime.gateway.openapi import QueueFigures, errors
from agent_runtime.gateway.queue_load import answer, figures_of
from agent_runtime.spec.common import DNS_LABEL

CAPABILITY = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"  # as AgentPool and Workflow nodes name them

router = APIRouter(tags=["queue"])

Capability = Annotated[str, Query(min_length=1, max_length=63, pattern=CAPABILITY)]


@router.get(
    "/v1/namespaces/{namespace}/queue",
    operation_id="getQueue",
    response_model=None,
    responses={200: {"model": QueueFigures}, **errors(401, 403, 422, 503)},
)
async def get_queue(
    gateway: GatewayDep,
    caller: CallerDep,
    namespace: Annotated[str, Path(max_length=63, pattern=DNS_LABEL)],
    capability: Annotated[list[Capability], Query(min_length=1, max_length=64)],
) -> dict[str, Any] | Response:
    """Runs waiting for an agent of each ``capability`` and runs executing that use it, in
    ``namespace``, and their sums (``total`` = ``queued`` + ``running``)."""
    if not await gateway.access.may_read_queue(caller, namespace):
        return error(403, "forbidden", f"you may not get agentpools/queue in {namespace}")
    load = await figures_of(gateway.store).get(namespace)
    return answer(load, namespace, capability)
