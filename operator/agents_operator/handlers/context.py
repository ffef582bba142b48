"""What every handler reaches through kopf's ``memo``: settings, the API client, reconcilers."""

from __future__ import annotations

import asyncio
import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import kopf

from agent_runtime.kube import KubeClient, KubeError
from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.common import API_GROUP, API_VERSION, GROUP_VERSION
from agents_operator.conditions import same_conditions
from agents_operator.persistence import MemoryDiffBase
from agents_operator.settings import OperatorSettings

GROUP, VERSION = API_GROUP, API_VERSION
#: Pool reconciles in flight at once: as many as the client has connections (each reconcile
#: makes its requests one after another).
RECONCILES_AT_ONCE = 20
API = GROUP_VERSION


@dataclass
class OperatorContext:
    settings: OperatorSettings
    kube: KubeClient
    #: The platform tool policy, read once at start: Workflows are admitted under it and agent
    #: pods are given it, so both sides enforce the same rules.
    policy: ToolPolicy = field(default_factory=ToolPolicy.cluster)
    #: Pools reconciled at once. Without a bound, a thousand pools created together each held
    #: their children and a place in the connection queue at once: every pool's first child was
    #: applied before any pool's workload, so no pod started until the last pool's turn, and
    #: the operator's memory grew with the burst.
    reconcile_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(RECONCILES_AT_ONCE)
    )
    #: One reconcile at a time per object: child events and spec changes may race.
    locks: defaultdict[tuple[str, str, str], asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    #: pool uid -> (generation, desired children as JSON): child events must not rebuild them
    #: each time, and as text they take a fifth of the memory (22 KB a pool as dicts).
    desired: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    #: pool uid -> the newest workload seen (from applies and events), for its status.
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: pool uid -> the status last written, so stale event bodies never cause needless writes.
    written: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    #: The egress rule to the API server agents verify task tokens against, read at start
    #: (None: unknown, or not needed).
    api_server_egress: dict[str, Any] | None = None
    #: Whether pools on the queue metric get a KEDA ScaledObject (else an HPA on an External
    #: metric): the ``queue_scaler`` setting, or for ``auto`` discovery at start.
    keda: bool = False
    #: (namespace, pool) -> external members whose Lease is current, as last counted.
    external: dict[tuple[str, str], int] = field(default_factory=dict)
    #: What kopf last handled of each pool (kopf's diff base, kept in memory).
    diffbase: MemoryDiffBase = field(default_factory=MemoryDiffBase)

    def note_workload(self, pool_uid: str, workload: dict[str, Any]) -> None:
        """Keep the newest version: an older one arriving late must not roll status back."""
        known = self.workloads.get(pool_uid)
        if known is None or _version(workload) >= _version(known):
            self.workloads[pool_uid] = workload

    def forget(self, pool_uid: str) -> None:
        for kept in (self.desired, self.workloads, self.written, self.status_locks):
            kept.pop(pool_uid, None)
        self.diffbase.forget(pool_uid)


def _version(obj: dict[str, Any]) -> int:
    value = str(obj.get("metadata", {}).get("resourceVersion", "0"))
    return int(value) if value.isdigit() else 0


def context_of(memo: kopf.Memo) -> OperatorContext:
    ctx: OperatorContext = memo["ctx"]
    return ctx


def plain(body: Any) -> dict[str, Any]:
    """A kopf body as a plain dict without status, for the spec models."""
    data = dict(body)
    return {
        "apiVersion": data.get("apiVersion"),
        "kind": data.get("kind"),
        "metadata": {
            k: v
            for k, v in dict(data.get("metadata", {})).items()
            if k in ("name", "namespace", "generation", "labels", "annotations")
        },
        "spec": dict(data.get("spec") or {}),
    }


def trimmed(body: Any) -> dict[str, Any]:
    """What handlers read of an object, without managed fields and kopf's annotations.

    Kept per object in indexes and caches: at hundreds of pools the full bodies would be most
    of the operator's memory.
    """
    data = dict(body)
    meta = dict(data.get("metadata") or {})
    keep = ("name", "namespace", "uid", "generation", "resourceVersion", "deletionTimestamp")
    out: dict[str, Any] = {
        "apiVersion": data.get("apiVersion"),
        "kind": data.get("kind"),
        "metadata": {k: meta[k] for k in keep if k in meta},
    }
    for key in ("spec", "status"):
        if key in data:
            out[key] = copy.deepcopy(dict(data[key]))
    return out


def owner_reference(body: Any) -> dict[str, Any]:
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": body["metadata"]["name"],
        "uid": body["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: Any, uid: str) -> bool:
    return any(
        ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or []
    )


async def write_status_if_changed(
    memo: kopf.Memo, body: Any, kind: str, status: dict[str, Any]
) -> None:
    """Patch the object's status when ``status`` differs from what it carries (conditions
    compared without their transition times); an object gone meanwhile is no error. Fields the
    patch leaves out (a Trigger's, which the gateway writes) are left alone."""
    previous = dict(body.get("status") or {})
    same = all(previous.get(k) == v for k, v in status.items() if k != "conditions")
    if same and same_conditions(previous.get("conditions"), status["conditions"]):
        return
    meta = body["metadata"]
    try:
        await context_of(memo).kube.patch_status(
            body["apiVersion"], kind, meta["namespace"], meta["name"], status
        )
    except KubeError as exc:
        if exc.status != 404:
            raise
