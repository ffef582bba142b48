"""The operator's writes: server-side apply, status, delete. kopf does the watching."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from agent_runtime.kube import KubeClient, KubeError

__all__ = ["Kube", "KubeError", "resource_path"]

log = logging.getLogger(__name__)

PLURALS = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "NetworkPolicy": "networkpolicies",
    "EndpointSlice": "endpointslices",
    "AgentPool": "agentpools",
    "Workflow": "workflows",
    "Pod": "pods",
}


def resource_path(
    api_version: str, kind: str, namespace: str | None, name: str | None = None
) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespace:
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{PLURALS[kind]}"
    return f"{base}/{quote(name)}" if name else base


class Kube:
    """The operator's writes over the shared async client (which counts them for metrics)."""

    def __init__(self, client: KubeClient, *, field_manager: str) -> None:
        self.client = client
        self.field_manager = field_manager

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply: we own exactly the fields we send, and take them back on drift."""
        meta = obj["metadata"]
        path = resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        result = await self.client.request(
            "PATCH",
            path,
            body=obj,
            params={"fieldManager": self.field_manager, "force": "true"},
            content_type="application/apply-patch+yaml",
        )
        if result is None:
            raise KubeError(404, f"{obj['kind']} {meta['name']}: namespace or API not found")
        return result

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        return await self.client.request("GET", resource_path(api_version, kind, namespace, name))

    async def list(
        self, api_version: str, kind: str, namespace: str | None, *, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        found = await self.client.request(
            "GET", resource_path(api_version, kind, namespace), params=params
        )
        return list((found or {}).get("items", []))

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        gone = await self.client.request(
            "DELETE",
            resource_path(api_version, kind, namespace, name),
            body={"propagationPolicy": "Background"},
            content_type="application/json",
        )
        return gone is not None

    async def patch_status(
        self, api_version: str, kind: str, namespace: str | None, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        return await self.client.request(
            "PATCH",
            resource_path(api_version, kind, namespace, name) + "/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    async def aclose(self) -> None:
        await self.client.aclose()
