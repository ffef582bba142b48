"""Running the operator: ``configurable-agents operator`` calls ``run``."""

from __future__ import annotations

import asyncio
import logging

import kopf

from agents_operator.settings import OperatorSettings


def run(settings: OperatorSettings, *, verbose: bool = False) -> None:
    """Run until SIGINT/SIGTERM, against the current kubeconfig or the in-cluster account."""
    import agents_operator.handlers  # noqa: F401 - registers the handlers

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if not verbose:  # one line per handled event is noise at hundreds of pools
        for name in ("kopf.objects", "httpx", "aiohttp.access"):
            logging.getLogger(name).setLevel(logging.WARNING)
    memo = kopf.Memo(settings=settings)
    namespaces = settings.namespaces
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=namespaces,
            standalone=True,
            memo=memo,
            liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz"
            if settings.health_port
            else None,
        )
    )
