"""The agent registry is Kubernetes itself: ready EndpointSlice endpoints of AgentPools.

A watch per served namespace (or one cluster-wide) keeps the cache current, so no task ever
queries the API server. Services of pools carry one label per capability, and the EndpointSlice
controller copies them onto the slices.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import Any

from agent_runtime.gateway.watches import NamespacedWatches
from agent_runtime.kube import KubeClient

log = logging.getLogger(__name__)

POOL_LABEL = "configurable-agents.io/pool"
CAPABILITY_PREFIX = "capability.configurable-agents.io/"
#: Test seam: "podIP:port=host:port,..." rewrites agent addresses (e.g. to loopback processes);
#: "*:port=host:port" rewrites every address on that port (pods whose IPs are not known yet).
ADDRESS_MAP_ENV = "CONFIGURABLE_AGENTS_ENDPOINT_MAP"


def address_map_from_env() -> dict[str, str]:
    pairs = [p for p in os.environ.get(ADDRESS_MAP_ENV, "").split(",") if "=" in p]
    return dict(p.strip().split("=", 1) for p in pairs)


class EndpointRegistry:
    """Ready agent URLs by namespace and capability."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespaces: Sequence[str] = (),
        address_map: dict[str, str] | None = None,
    ) -> None:
        self.watches = NamespacedWatches(
            client,
            "discovery.k8s.io/v1",
            "EndpointSlice",
            self._handle,
            namespaces=namespaces,
            labels={POOL_LABEL: None},
        )
        self.address_map = address_map if address_map is not None else address_map_from_env()
        #: (namespace, slice name) -> (capabilities, ready URLs)
        self._slices: dict[tuple[str, str], tuple[frozenset[str], tuple[str, ...]]] = {}
        self.changed = asyncio.Condition()

    def start(self) -> None:
        self.watches.start()

    async def stop(self) -> None:
        await self.watches.stop()

    def endpoints(self, capability: str, namespace: str | None = None) -> list[str]:
        urls: list[str] = []
        for (ns, _), (capabilities, ready) in sorted(self._slices.items()):
            if capability in capabilities and (namespace is None or ns == namespace):
                urls.extend(u for u in ready if u not in urls)
        return urls

    def _urls(self, obj: dict[str, Any]) -> tuple[str, ...]:
        ports = [p.get("port") for p in obj.get("ports") or [] if p.get("name") in ("http", None)]
        if not ports or ports[0] is None:
            return ()
        urls = []
        for endpoint in obj.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                target = f"{address}:{ports[0]}"
                mapped = self.address_map.get(target) or self.address_map.get(f"*:{ports[0]}")
                urls.append(f"http://{mapped or target}")
        return tuple(urls)

    def _entry(
        self, obj: dict[str, Any]
    ) -> tuple[tuple[str, str], tuple[frozenset[str], tuple[str, ...]]]:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        capabilities = frozenset(
            k.removeprefix(CAPABILITY_PREFIX)
            for k, v in labels.items()
            if k.startswith(CAPABILITY_PREFIX) and v == "true"
        )
        return (meta.get("namespace", ""), meta.get("name", "")), (capabilities, self._urls(obj))

    async def _handle(self, scope: str | None, kind: str, obj: dict[str, Any]) -> None:
        if kind == "SYNCED":  # a re-list of one namespace (or of all) replaces only that part
            kept = {k: v for k, v in self._slices.items() if scope is not None and k[0] != scope}
            self._slices = kept | dict(self._entry(item) for item in obj["items"])
        elif kind == "DELETED":
            self._slices.pop(self._entry(obj)[0], None)
        else:
            key, value = self._entry(obj)
            self._slices[key] = value
        async with self.changed:
            self.changed.notify_all()
