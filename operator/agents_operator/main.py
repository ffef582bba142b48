"""Running the operator: ``configurable-agents operator`` calls ``run``."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
from typing import Any

import kopf

from agent_runtime.policy import PolicyError, ToolPolicy, load_policy
from agent_runtime.telemetry import configure_logging, setup_tracing
from agent_runtime.telemetry.logs import log_format
from agents_operator.retry_logs import log_retries_as_warnings
from agents_operator.settings import OperatorSettings

#: The entry point: the CLI's ``operator`` command imports the operator through these only.
__all__ = ["OperatorSettings", "run"]


def run(settings: OperatorSettings, *, verbose: bool = False) -> None:
    """Run until SIGINT/SIGTERM, against the current kubeconfig or the in-cluster account."""
    # Importing them registers them: the handlers, and kopf's login from lightkube's configuration.
    import agents_operator.handlers
    import agents_operator.login  # noqa: F401

    policy = tool_policy()
    # JSON lines (with trace ids) unless on a terminal; CONFIGURABLE_AGENTS_LOG_FORMAT decides.
    configure_logging(
        "debug" if verbose else "info",
        log_format(os.environ.get("CONFIGURABLE_AGENTS_LOG_FORMAT", "auto")),
        service="operator",
        chatty=("kopf.objects", "aiohttp.access"),  # a line per event: noise at hundreds of pools
    )
    log_retries_as_warnings()
    setup_tracing("configurable-agents-operator")
    logging.getLogger(__name__).info("tool policy: %s", policy.summary())
    memo = kopf.Memo(settings=settings, policy=policy)
    namespaces = settings.namespaces
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            **peering_options(settings),
            memo=memo,
            liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz"
            if settings.health_port
            else None,
        )
    )


def tool_policy() -> ToolPolicy:
    """The platform tool policy from ``CONFIGURABLE_AGENTS_POLICY_*`` (the ``cluster`` preset
    unless they say otherwise). Wrong, it is one line and exit status 2 before anything runs:
    an operator admitting Workflows under a policy nobody meant is worse than none."""
    try:
        return load_policy(default="cluster")
    except PolicyError as exc:
        sys.stderr.write(f"error: tool policy: {exc}\n")
        raise SystemExit(2) from None


def peering_options(settings: OperatorSettings) -> dict[str, Any]:
    """kopf peering arguments: standalone, or one named peering with a priority that never ties."""
    if not settings.peering:
        return {"standalone": True}
    priority = settings.peering_priority
    if priority is None:
        priority = random.SystemRandom().randint(1, 2**31 - 1)
    # With a peering name kopf makes peering mandatory: a missing peering CRD stops it loudly.
    return {"standalone": False, "peering_name": settings.peering, "priority": priority}
