"""Operator start-up and clean-up: kopf settings, the API client, the metrics endpoint."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from prometheus_client import start_http_server

from agent_runtime.kube import KubeClient
from agent_runtime.policy import ToolPolicy, load_policy
from agents_operator.handlers.context import OperatorContext
from agents_operator.kube import Kube
from agents_operator.metrics import API_REQUESTS
from agents_operator.settings import OperatorSettings

PREFIX = "configurable-agents.io"


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # The CRDs' status schemas are strict: kopf keeps its own bookkeeping in annotations instead.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{PREFIX}/operator"
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    operator_settings: OperatorSettings = memo.get("settings") or OperatorSettings()
    memo["settings"] = operator_settings
    # ``run`` loads it before kopf starts (a bad policy stops the operator there).
    policy: ToolPolicy = memo.get("policy") or load_policy(default="cluster")
    memo["policy"] = policy
    memo["ctx"] = OperatorContext(
        settings=operator_settings,
        policy=policy,
        kube=Kube(
            KubeClient(on_request=lambda verb: API_REQUESTS.labels(verb).inc()),
            field_manager=operator_settings.field_manager,
        ),
    )
    if operator_settings.metrics_port and not memo.get("metrics_started"):
        start_http_server(operator_settings.metrics_port)
        memo["metrics_started"] = True


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    ctx = memo.get("ctx")
    if ctx is not None:
        await ctx.kube.aclose()
