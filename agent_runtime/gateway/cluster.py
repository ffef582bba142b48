"""Workflows and Triggers served from the cluster: watches of their objects keep the catalog
current (one list-then-watch per served namespace, ``NamespacedWatches``)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from agent_runtime.gateway.catalog import Catalog, Entry
from agent_runtime.gateway.watches import NamespacedWatches
from agent_runtime.kube import KubeClient
from agent_runtime.spec import SpecError, Workflow, parse_workflow
from agent_runtime.spec.common import GROUP_VERSION
from agent_runtime.spec.loader import parse_resource
from agent_runtime.spec.trigger import Trigger, TriggerStatus
from agent_runtime.spec.workflow import WorkflowStatus

log = logging.getLogger(__name__)
#: What ``_with_status`` gives status to.
Carrying = TypeVar("Carrying", Workflow, Trigger)
#: The catalog source of Workflows read from the cluster.
SOURCE = "cluster"


#: The metadata a Workflow keeps from the cluster's object (status and the server's bookkeeping
#: go); a Trigger also keeps its uid and creation time (when it began: its first tick).
WORKFLOW_META = ("name", "namespace", "generation", "labels", "annotations")
TRIGGER_META = (*WORKFLOW_META, "uid", "creationTimestamp")


def _plain(obj: dict[str, Any], keep: tuple[str, ...] = WORKFLOW_META) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {k: meta[k] for k in keep if k in meta},
        "spec": obj.get("spec") or {},
    }


def _with_status(resource: Carrying, model: type[BaseModel], status: dict[str, Any]) -> Carrying:
    """The Workflow or Trigger carrying its status (which pools serve each capability; the
    times a schedule fired).

    Parsed apart from the spec, so a status the gateway cannot read never makes a good spec
    look invalid: it is only left out.
    """
    if not status:
        return resource
    try:
        return resource.model_copy(update={"status": model.model_validate(status)})
    except ValidationError as exc:
        kind, namespace, name = resource.kind, resource.namespace, resource.name
        log.warning("%s %s/%s: status ignored: %s", kind.lower(), namespace, name, exc)
        return resource


def entry_of(obj: dict[str, Any]) -> Entry:
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace", "default"), meta.get("name", "")
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    try:
        workflow = parse_workflow(_plain(obj))
    except SpecError as exc:
        return Entry(namespace, name, None, SOURCE, tuple(str(p) for p in exc.problems), conditions)
    workflow = _with_status(workflow, WorkflowStatus, status)
    return Entry(namespace, name, workflow, SOURCE, (), conditions)


class ClusterObjects(ABC):
    """Feeds a catalog from one kind's objects in the given namespaces (one watch each), or in
    all: a re-list replaces what that namespace's watch fed before."""

    kind: ClassVar[str]

    def __init__(
        self, client: KubeClient, catalog: Catalog, *, namespaces: Sequence[str] = ()
    ) -> None:
        self.catalog = catalog
        self.watches = NamespacedWatches(
            client, GROUP_VERSION, self.kind, self._handle, namespaces=namespaces
        )

    def start(self) -> None:
        self.watches.start()

    async def stop(self) -> None:
        await self.watches.stop()

    def _handle(self, scope: str | None, kind: str, obj: dict[str, Any]) -> None:
        if kind == "SYNCED":
            self.relisted(scope, obj["items"])
        elif kind == "DELETED":
            meta = obj.get("metadata") or {}
            self.deleted(meta.get("namespace", "default"), meta.get("name", ""))
        else:
            self.changed(obj)

    @abstractmethod
    def relisted(self, scope: str | None, items: list[dict[str, Any]]) -> None: ...

    @abstractmethod
    def deleted(self, namespace: str, name: str) -> None: ...

    @abstractmethod
    def changed(self, obj: dict[str, Any]) -> None: ...


class ClusterWorkflows(ClusterObjects):
    kind = "Workflow"

    def relisted(self, scope: str | None, items: list[dict[str, Any]]) -> None:
        self.catalog.replace([entry_of(item) for item in items], source=SOURCE, namespace=scope)

    def deleted(self, namespace: str, name: str) -> None:
        self.catalog.remove(namespace, name)

    def changed(self, obj: dict[str, Any]) -> None:
        self.catalog.put(entry_of(obj))


def trigger_of(obj: dict[str, Any]) -> Trigger | None:
    """The Trigger with its status, uid and creation time (when it began: its first tick);
    None, logged, when it is not one (admission refuses those; an older CRD might not)."""
    meta = obj.get("metadata") or {}
    try:
        trigger = parse_resource(_plain(obj, TRIGGER_META))
    except SpecError as exc:
        where = f"{meta.get('namespace')}/{meta.get('name')}"
        log.warning("trigger %s: not served: %s", where, "; ".join(exc.lines()))
        return None
    assert isinstance(trigger, Trigger)
    return _with_status(trigger, TriggerStatus, obj.get("status") or {})


class ClusterTriggers(ClusterObjects):
    kind = "Trigger"

    def relisted(self, scope: str | None, items: list[dict[str, Any]]) -> None:
        triggers = [t for item in items if (t := trigger_of(item)) is not None]
        self.catalog.replace_triggers(triggers, source=SOURCE, namespace=scope)

    def deleted(self, namespace: str, name: str) -> None:
        self.catalog.remove_trigger(namespace, name)

    def changed(self, obj: dict[str, Any]) -> None:
        trigger = trigger_of(obj)
        if trigger is None:
            meta = obj.get("metadata") or {}
            self.catalog.remove_trigger(meta.get("namespace", "default"), meta.get("name", ""))
        else:
            self.catalog.put_trigger(trigger, source=SOURCE)
