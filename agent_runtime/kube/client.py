"""Connecting to the API server with the same credentials kubectl and kopf use."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable
from typing import Any

import httpx
from kubernetes import client, config


class KubeConfigError(ValueError):
    """Neither an in-cluster account nor a usable kubeconfig: the one line to show the user."""


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def load_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """The given kubeconfig; else the pod's service account; else $KUBECONFIG or ~/.kube/config."""
    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return configuration
        except config.ConfigException:
            # read now, not at import like the library's default
            kubeconfig = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    try:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError) as exc:
        where = kubeconfig or "~/.kube/config"
        raise KubeConfigError(
            f"no Kubernetes credentials: not in a pod, and the kubeconfig {where} "
            f"is unusable ({exc})"
        ) from None
    return configuration


def _tls_context(configuration: client.Configuration) -> ssl.SSLContext | bool:
    if not configuration.verify_ssl:
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if configuration.cert_file and configuration.key_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


class KubeClient:
    """One pooled HTTP client to the API server; tokens are refreshed before each request."""

    def __init__(
        self,
        configuration: client.Configuration | None = None,
        *,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        self.configuration = configuration or load_configuration()
        #: Told the verb of every request, e.g. to count them for metrics.
        self.on_request = on_request
        self.http = httpx.AsyncClient(
            base_url=self.configuration.host,
            verify=_tls_context(self.configuration),
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        )

    def headers(self, content_type: str | None = None) -> dict[str, str]:
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

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any] | None:
        """The decoded answer; None for 404; KubeError for any other failure status."""
        if self.on_request is not None:
            self.on_request(method.lower())
        response = await self.http.request(
            method,
            path,
            params=params,
            content=json.dumps(body) if body is not None else None,
            headers=self.headers(content_type if body is not None else None),
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise KubeError(response.status_code, _message(response))
        return response.json() if response.content else {}

    async def aclose(self) -> None:
        await self.http.aclose()


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text
