"""``POST /v1/triggers/{namespace}/{name}/webhook``: a delivery starts a run of the Trigger.

Authentication here is the request's signature, not a bearer token: a webhook sender (GitHub, a
SaaS, a CloudEvents broker) holds no Kubernetes or OpenID token, only the key it shares with the
Trigger. Authorization is the Trigger itself: whoever may create Triggers in a namespace decides
which deliveries start which of its Workflows, and the run is created as the Trigger
(``system:trigger:<namespace>:<name>``) through the one start path, so the namespace's
admission limits hold, and a Trigger reaches only Workflows of its own namespace.

Nothing about a trigger is told to a request that is not signed with its key: a missing trigger,
one without a webhook, one whose keys cannot be read and a wrong signature all get the same 401.
Past the signature: a suspended trigger is a 409, a payload that is no delivery a 400, a
mapping that fails on it a 400 naming the input field, and a redelivery (the same delivery id,
or the same CloudEvent source and id) is answered 200 with the run it started, 202 the first time.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agent_runtime.engine.runner import new_run_id
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.deps import GatewayDep
from agent_runtime.gateway.launch import Refused, start_run
from agent_runtime.gateway.openapi import ErrorBody, RunAccepted
from agent_runtime.gateway.trigger_status import trigger_identity
from agent_runtime.gateway.webhooks import (
    KeysUnavailable,
    key_source,
    mapped_input,
    read_delivery,
    verify,
    wanted,
)
from agent_runtime.gateway.webhooks.signatures import unverified
from agent_runtime.spec.trigger import Trigger
from agent_runtime.stores.records import TriggeredBy
from agent_runtime.telemetry.metrics import WebhookMetrics

log = logging.getLogger(__name__)

router = APIRouter(tags=["triggers"])

_BODY = {
    "description": "The payload as the sender signed it: any JSON (a CloudEvent in structured "
    "mode, or its data in binary mode with ce-* headers).",
    "required": False,
    "content": {
        "application/json": {"schema": {}},
        "application/cloudevents+json": {"schema": {"type": "object"}},
    },
}


#: The error answers of the route: its own meanings of each status.
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "A signed payload that is no delivery (invalid_payload), or whose mapping to the "
        "run's input fails (mapping_failed; details name the input field)",
        401: "The signature does not verify with the trigger's keys, or there is no such "
        "webhook trigger (one answer for both); or, signed, a timestamp outside the tolerance",
        409: "The trigger is suspended, or its Workflow is not ready",
        413: "The body is larger than the gateway takes",
        422: "A path parameter the gateway cannot use",
        429: "The namespace's rate limit or cap of runs in flight (Retry-After)",
        503: "The run store does not answer",
    }.items()
}


class TooLarge(AgentRuntimeError):
    code = "payload_too_large"


async def _body(request: Request, limit: int) -> bytes:
    """The body, read no further than ``limit`` bytes (413 beyond)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body: larger than this gateway takes ({limit} bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body: larger than this gateway takes ({limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _webhook_trigger(gateway: GatewayDep, namespace: str, name: str) -> Trigger | None:
    trigger = gateway.catalog.trigger(namespace, name)
    return trigger if trigger is not None and trigger.spec.webhook is not None else None


@router.post(
    "/v1/triggers/{namespace}/{name}/webhook",
    status_code=202,
    response_model=None,
    operation_id="deliverWebhook",
    summary="Deliver a webhook or CloudEvent to a Trigger",
    description=(
        "Authenticated by its signature (Standard Webhooks' webhook-signature, or GitHub's "
        "X-Hub-Signature-256) with the Trigger's keys, not by a bearer token. 202 with the run "
        "started; 200 with the same run for a redelivery, or with status ignored when the "
        "Trigger's `when` is false."
    ),
    openapi_extra={"requestBody": _BODY},
    responses={
        200: {"model": RunAccepted, "description": "A redelivery: the run it started"},
        202: {"model": RunAccepted, "description": "Accepted: the run started"},
        **_ERRORS,
    },
)
async def deliver(namespace: str, name: str, request: Request, gateway: GatewayDep) -> JSONResponse:
    metrics = WebhookMetrics.for_registry()
    trigger = _webhook_trigger(gateway, namespace, name)
    labels = (namespace, name) if trigger is not None else ("", "")
    try:
        answer, outcome = await _deliver(request, gateway, namespace, name, trigger)
    except KeysUnavailable as exc:
        log.warning("webhook %s/%s: %s; deliveries are refused", namespace, name, exc)
        metrics.deliveries.labels(*labels, "keys_unavailable").inc()
        raise unverified(namespace, name) from None
    except AgentRuntimeError as exc:
        outcome = exc.code
        if trigger is None and exc.code == "signature_invalid":
            outcome = "unknown"
        metrics.deliveries.labels(*labels, outcome).inc()
        raise
    metrics.deliveries.labels(*labels, outcome).inc()
    return answer


async def _deliver(
    request: Request, gateway: GatewayDep, namespace: str, name: str, trigger: Trigger | None
) -> tuple[JSONResponse, str]:
    body = await _body(request, gateway.settings.webhook_max_bytes)
    if trigger is None or trigger.spec.webhook is None:
        raise unverified(namespace, name)
    webhook = trigger.spec.webhook
    keys = await key_source(request.app).keys(trigger)
    headers = {k.lower(): v for k, v in request.headers.items()}
    verify(webhook, keys, headers, body, now=time.time(), namespace=namespace, name=name)
    if trigger.spec.suspend:
        raise Refused("trigger_suspended", f"trigger {namespace}/{name} is suspended")
    delivery = read_delivery(webhook, headers, body)
    if not wanted(trigger, delivery.variables):
        return JSONResponse({"id": None, "status": "ignored"}, status_code=200), "ignored"
    entry = gateway.catalog.get(namespace, trigger.spec.workflow)
    if entry is None or entry.workflow is None or not entry.ready:
        raise Refused(
            "workflow_not_ready",
            f"spec.workflow: {trigger.spec.workflow!r} is not a ready Workflow in {namespace}",
        )
    given = mapped_input(trigger, entry.workflow, delivery.variables)
    fresh = new_run_id()
    run = await start_run(
        gateway,
        trigger_identity(trigger),
        entry.workflow,
        given,
        idempotency_key=delivery.key(namespace, name),
        triggered_by=TriggeredBy(
            namespace=namespace,
            name=name,
            source="cloudevent" if delivery.event_id is not None else "webhook",
            delivery=delivery.delivery,
            event_id=delivery.event_id,
            event_source=delivery.event_source,
        ),
        run_id=fresh,
    )
    replayed = run.id != fresh  # the run of an earlier delivery of the same id
    body_out: dict[str, Any] = {"id": run.id, "status": run.status.value}
    if replayed:
        return JSONResponse(body_out, status_code=200), "replayed"
    return JSONResponse(body_out, status_code=202), "accepted"
