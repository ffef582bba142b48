"""Workflows served from the cluster: a watch on Workflow objects keeps the catalog current."""

from __future__ import annotations

import logging
from typing import Any

from agent_runtime.gateway.catalog import Catalog, Entry
from agent_runtime.kube import KubeClient, Watch
from agent_runtime.spec import SpecError, parse_workflow

log = logging.getLogger(__name__)
PATH = "/apis/configurable-agents.io/v1alpha1"


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    keep = ("name", "namespace", "generation", "labels", "annotations")
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in keep if k in meta},
        "spec": obj.get("spec") or {},
    }


def entry_of(obj: dict[str, Any]) -> Entry:
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace", "default"), meta.get("name", "")
    conditions = (obj.get("status") or {}).get("conditions") or []
    try:
        workflow = parse_workflow(_plain(obj))
    except SpecError as exc:
        return Entry(
            namespace, name, None, "cluster", tuple(str(p) for p in exc.problems), conditions
        )
    return Entry(namespace, name, workflow, "cluster", (), conditions)


class ClusterWorkflows:
    """Feeds a catalog from the Workflow objects of one namespace, or of all."""

    def __init__(
        self, client: KubeClient, catalog: Catalog, *, namespace: str | None = None
    ) -> None:
        path = f"{PATH}/namespaces/{namespace}/workflows" if namespace else f"{PATH}/workflows"
        self.catalog = catalog
        self.watch = Watch(client, path, self._handle)

    def start(self) -> None:
        self.watch.start()

    async def stop(self) -> None:
        await self.watch.stop()

    def _handle(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "SYNCED":
            self.catalog.replace([entry_of(item) for item in obj["items"]])
        elif kind == "DELETED":
            entry = entry_of(obj)
            self.catalog.remove(entry.namespace, entry.name)
        else:
            self.catalog.put(entry_of(obj))
