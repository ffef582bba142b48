"""Workflows served from the cluster: a watch on Workflow objects keeps the catalog current."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from agent_runtime.gateway.catalog import Catalog, Entry
from agent_runtime.gateway.watches import NamespacedWatches
from agent_runtime.kube import KubeClient
from agent_runtime.spec import SpecError, Workflow, parse_workflow
from agent_runtime.spec.common import GROUP_VERSION
from agent_runtime.spec.workflow import WorkflowStatus

log = logging.getLogger(__name__)
#: The catalog source of Workflows read from the cluster.
SOURCE = "cluster"


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    keep = ("name", "namespace", "generation", "labels", "annotations")
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in keep if k in meta},
        "spec": obj.get("spec") or {},
    }


def _with_status(workflow: Workflow, status: dict[str, Any]) -> Workflow:
    """The workflow carrying the operator's status (which pools serve each capability).

    Parsed apart from the spec, so a status the gateway cannot read never makes a good spec
    look invalid: it is only left out.
    """
    if not status:
        return workflow
    try:
        return workflow.model_copy(update={"status": WorkflowStatus.model_validate(status)})
    except ValidationError as exc:
        log.warning("workflow %s/%s: status ignored: %s", workflow.namespace, workflow.name, exc)
        return workflow


def entry_of(obj: dict[str, Any]) -> Entry:
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace", "default"), meta.get("name", "")
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    try:
        workflow = parse_workflow(_plain(obj))
    except SpecError as exc:
        return Entry(namespace, name, None, SOURCE, tuple(str(p) for p in exc.problems), conditions)
    return Entry(namespace, name, _with_status(workflow, status), SOURCE, (), conditions)


class ClusterWorkflows:
    """Feeds a catalog from the Workflows of the given namespaces (one watch each), or of all."""

    def __init__(
        self, client: KubeClient, catalog: Catalog, *, namespaces: Sequence[str] = ()
    ) -> None:
        self.catalog = catalog
        self.watches = NamespacedWatches(
            client, GROUP_VERSION, "Workflow", self._handle, namespaces=namespaces
        )

    def start(self) -> None:
        self.watches.start()

    async def stop(self) -> None:
        await self.watches.stop()

    def _handle(self, scope: str | None, kind: str, obj: dict[str, Any]) -> None:
        if kind == "SYNCED":
            entries = [entry_of(item) for item in obj["items"]]
            self.catalog.replace(entries, source=SOURCE, namespace=scope)
        elif kind == "DELETED":
            entry = entry_of(obj)
            self.catalog.remove(entry.namespace, entry.name)
        else:
            self.catalog.put(entry_of(obj))
