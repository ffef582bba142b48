"""The registry against the real control plane: endpoint changes reach the cache within seconds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from agent_runtime.gateway.registry import EndpointRegistry
from agent_runtime.kube import KubeClient, load_configuration

pytestmark = pytest.mark.cluster


def pool_objects(name: str, capability: str, replicas: int = 1) -> str:
    """A Deployment and Service labelled as the operator labels an AgentPool's (no operator:
    the registry's tests and others read the pool's EndpointSlices as the gateway does)."""
    labels = (
        f"{{configurable-agents.io/pool: {name}, "
        f'capability.configurable-agents.io/{capability}: "true"}}'
    )
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{configurable-agents.io/pool: {name}}}}}
  template:
    metadata:
      labels: {labels}
    spec:
      containers: [{{name: agent, image: agent, ports: [{{name: http, containerPort: 8080}}]}}]
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels: {labels}
spec:
  selector: {{configurable-agents.io/pool: {name}}}
  ports: [{{name: http, port: 8080, targetPort: http}}]
"""


POOL = pool_objects("searchers", "search", replicas=2)


async def until(
    registry: EndpointRegistry,
    check: Callable[[], bool],
    limit: float = 15,
    *,
    since: float | None = None,
) -> float:
    """Seconds from ``since`` (the change's cause) until the cache shows it."""
    started = since if since is not None else time.monotonic()
    async with asyncio.timeout(limit):
        async with registry.changed:
            await registry.changed.wait_for(check)
    return time.monotonic() - started


async def test_endpoint_cache_follows_pods(
    kubectl: Any, namespace: str, kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    client = KubeClient(load_configuration())
    registry = EndpointRegistry(client, namespaces=[namespace], address_map={})
    registry.start()
    try:
        await asyncio.wait_for(registry.watches.wait_synced(), 10)
        assert registry.endpoints("search", namespace) == []
        kubectl("apply", "-n", namespace, "-f", "-", stdin=POOL)
        took = await until(registry, lambda: len(registry.endpoints("search", namespace)) == 2)
        urls = registry.endpoints("search", namespace)
        assert all(u.startswith("http://") and u.endswith(":8080") for u in urls)
        assert registry.endpoints("search", "elsewhere") == []
        assert registry.endpoints("other", namespace) == []

        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
        unready = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
        kubectl(
            "patch",
            "pod",
            pods[0]["metadata"]["name"],
            "-n",
            namespace,
            "--subresource=status",
            "--type=strategic",
            "-p",
            json.dumps(unready),
        )
        took_unready = await until(
            registry, lambda: len(registry.endpoints("search", namespace)) == 1
        )

        cause = time.monotonic()
        kubectl("scale", "deployment/searchers", "--replicas=0", "-n", namespace)
        took_gone = await until(
            registry, lambda: registry.endpoints("search", namespace) == [], since=cause
        )
        print(
            f"ready after {took:.2f}s, unready after {took_unready:.2f}s, gone after {took_gone:.2f}s"
        )
        assert max(took_unready, took_gone) < 10
    finally:
        await registry.stop()
        await client.aclose()


async def test_address_map_seam(
    kubectl: Any, namespace: str, kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_objects("searchers", "search"))
    client = KubeClient(load_configuration())
    probe = EndpointRegistry(client, namespaces=[namespace], address_map={})
    probe.start()
    try:
        await until(probe, lambda: len(probe.endpoints("search", namespace)) == 1)
        [url] = probe.endpoints("search", namespace)
    finally:
        await probe.stop()
    monkeypatch.setenv(
        "CONFIGURABLE_AGENTS_ENDPOINT_MAP", f"{url.removeprefix('http://')}=127.0.0.1:9999"
    )
    mapped = EndpointRegistry(client, namespaces=[namespace])
    mapped.start()
    try:
        await until(
            mapped, lambda: mapped.endpoints("search", namespace) == ["http://127.0.0.1:9999"]
        )
    finally:
        await mapped.stop()
        await client.aclose()
