"""A small async Kubernetes client for the operator's writes: server-side apply, status, delete.

kopf does the watching; this does the writing, over one pooled HTTP/1.1 connection pool, with
credentials from the same kubeconfig or in-cluster service account that kopf uses.
"""

from __future__ import annotations

import json
import logging
import ssl
from typing import Any
from urllib.parse import quote

import httpx
from kubernetes import client, config

from agents_operator.metrics import API_REQUESTS

log = logging.getLogger(__name__)

PLURALS = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "EndpointSlice": "endpointslices",
    "AgentPool": "agentpools",
    "Workflow": "workflows",
    "Pod": "pods",
}


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def resource_path(
    api_version: str, kind: str, namespace: str | None, name: str | None = None
) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespace:
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{PLURALS[kind]}"
    return f"{base}/{quote(name)}" if name else base


def load_configuration() -> client.Configuration:
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


def _tls_context(configuration: client.Configuration) -> ssl.SSLContext | bool:
    if not configuration.verify_ssl:
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if configuration.cert_file and configuration.key_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


class Kube:
    def __init__(self, configuration: client.Configuration, *, field_manager: str) -> None:
        self.configuration = configuration
        self.field_manager = field_manager
        self._http = httpx.AsyncClient(
            base_url=configuration.host,
            verify=_tls_context(configuration),
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        )

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        hook = self.configuration.refresh_api_key_hook
        if hook is not None:
            hook(self.configuration)
        headers = {"Accept": "application/json"}
        token = self.configuration.get_api_key_with_prefix("authorization") or (
            self.configuration.get_api_key_with_prefix("BearerToken")
        )
        if token:
            headers["Authorization"] = token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any] | None:
        API_REQUESTS.labels(method.lower()).inc()
        response = await self._http.request(
            method,
            path,
            params=params,
            content=json.dumps(body) if body is not None else None,
            headers=self._headers(content_type if body is not None else None),
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise KubeError(response.status_code, message)
        return response.json() if response.content else {}

    async def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply: we own exactly the fields we send, and take them back on drift."""
        meta = obj["metadata"]
        path = resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        result = await self._request(
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
        return await self._request("GET", resource_path(api_version, kind, namespace, name))

    async def list(
        self, api_version: str, kind: str, namespace: str | None, *, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        found = await self._request(
            "GET", resource_path(api_version, kind, namespace), params=params
        )
        return list((found or {}).get("items", []))

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        gone = await self._request(
            "DELETE",
            resource_path(api_version, kind, namespace, name),
            body={"propagationPolicy": "Background"},
            content_type="application/json",
        )
        return gone is not None

    async def patch_status(
        self, api_version: str, kind: str, namespace: str | None, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        return await self._request(
            "PATCH",
            resource_path(api_version, kind, namespace, name) + "/status",
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    async def aclose(self) -> None:
        await self._http.aclose()
