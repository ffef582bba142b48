"""Operator start-up and clean-up: kopf settings, the API client, the metrics endpoint."""

from __future__ import annotations

import logging
from typing import Any

import httpx2
import kopf
from prometheus_client import start_http_server

from agent_runtime.kube import KubeClient, KubeError
from agent_runtime.policy import ToolPolicy, load_policy
from agent_runtime.telemetry.metrics import OperatorMetrics
from agents_operator.builders.egress import api_server_rule
from agents_operator.builders.scaling import KEDA_API_VERSION
from agents_operator.handlers.context import OperatorContext
from agents_operator.persistence import AnnotationsProgress, MemoryDiffBase
from agents_operator.settings import OperatorSettings

log = logging.getLogger(__name__)

PREFIX = "configurable-agents.io"


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # The CRDs' status schemas are strict: kopf keeps a retried handler's progress in annotations,
    # and what it last handled in memory (an annotation would cost a PATCH per handled change).
    settings.persistence.progress_storage = AnnotationsProgress(prefix=PREFIX)
    diffbase = MemoryDiffBase()
    settings.persistence.diffbase_storage = diffbase
    settings.persistence.finalizer = f"{PREFIX}/operator"
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    operator_settings: OperatorSettings = memo.get("settings") or OperatorSettings()
    memo["settings"] = operator_settings
    # ``run`` loads it before kopf starts (a bad policy stops the operator there).
    policy: ToolPolicy = memo.get("policy") or load_policy(default="cluster")
    memo["policy"] = policy
    metrics = OperatorMetrics.for_registry()  # the families are listed from the first scrape on
    ctx = OperatorContext(
        settings=operator_settings,
        policy=policy,
        diffbase=diffbase,
        kube=KubeClient(
            field_manager=operator_settings.field_manager,
            on_request=lambda verb: metrics.api_requests.labels(verb).inc(),
        ),
    )
    if operator_settings.egress_enforce and operator_settings.task_callers:
        ctx.api_server_egress = await api_server_egress(ctx.kube)
    ctx.keda = await uses_keda(ctx.kube, operator_settings)
    memo["ctx"] = ctx
    if operator_settings.metrics_port and not memo.get("metrics_started"):
        start_http_server(operator_settings.metrics_port)
        memo["metrics_started"] = True


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    ctx = memo.get("ctx")
    if ctx is not None:
        await ctx.kube.aclose()


async def uses_keda(kube: KubeClient, settings: OperatorSettings) -> bool:
    """Whether queue-scaled pools get KEDA ScaledObjects: ``auto`` asks discovery once at start
    (KEDA installed later: restart the operator, or set ``keda``)."""
    if settings.queue_scaler != "auto":
        return settings.queue_scaler == "keda"
    try:
        served = await kube.serves(KEDA_API_VERSION, "scaledobjects")
    except (KubeError, httpx2.HTTPError) as exc:
        log.warning("cannot tell whether KEDA is installed (%s): queue scaling uses HPAs", exc)
        return False
    log.info(
        "pools scaling on the queue get %s",
        "KEDA ScaledObjects" if served else "HPAs on an External metric (KEDA is not installed)",
    )
    return served


async def api_server_egress(kube: KubeClient) -> dict[str, Any] | None:
    """Where agents reach the API server (the ``default/kubernetes`` Service), read once: agents
    verifying task tokens fetch its discovery document and keys. Unreadable (an operator serving
    only some namespaces may not look there), the platform must allow it (EGRESS_ALLOW)."""
    try:
        slices, _ = await kube.list(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            "default",
            labels={"kubernetes.io/service-name": "kubernetes"},
        )
        service = await kube.get("v1", "Service", "default", "kubernetes")
    except KubeError as exc:
        slices, service = [], None
        log.warning("cannot read the API server's addresses (%s)", exc)
    rule = api_server_rule(slices, service)
    if rule is None:
        log.warning(
            "agent pools' egress policies leave out the API server, which agents verifying task "
            "tokens need: allow it in CONFIGURABLE_AGENTS_OPERATOR_EGRESS_ALLOW"
        )
    else:
        log.info(
            "agents may reach the API server at %s", [t["ipBlock"]["cidr"] for t in rule["to"]]
        )
    return rule
