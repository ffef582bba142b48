"""AgentPool: apply its children, put back what is edited or deleted, report workload status."""

from __future__ import annotations

import json
import logging
from typing import Any

import kopf
from pydantic import ValidationError

from agent_runtime.kube import KubeError
from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.spec.errors import SpecError
from agent_runtime.spec.loader import problems_from
from agents_operator.builders import build_children
from agents_operator.builders.children import optional_children
from agents_operator.builders.labels import POOL_LABEL
from agents_operator.conditions import Health, conditions, same_conditions
from agents_operator.handlers.context import (
    GROUP,
    VERSION,
    OperatorContext,
    context_of,
    is_owned_by,
    owner_reference,
    plain,
    trimmed,
)
from agents_operator.reconciles import count_managed, reconciling

log = logging.getLogger(__name__)
KIND = "AgentPool"


@kopf.index(GROUP, VERSION, "agentpools")
async def pools_by_name(
    namespace: str, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], Any]:
    return {(namespace, name): trimmed(body)}


def subset(wanted: Any, actual: Any) -> bool:
    """Whether every field we set still holds its value (defaults the server adds don't count)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(subset(v, actual.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(wanted) == len(actual)
            and all(subset(w, a) for w, a in zip(wanted, actual, strict=True))
        )
    return bool(wanted == actual or str(wanted) == str(actual))


def namespace_going_away(exc: KubeError) -> bool:
    """An object refused because its namespace is being deleted (403) or is gone (404): not an
    error, the pool goes with it."""
    text = str(exc)
    return "being terminated" in text or (exc.status == 404 and 'namespaces "' in text)


class PoolReconciler:
    def __init__(self, ctx: OperatorContext) -> None:
        self.ctx = ctx

    def desired(self, body: Any) -> list[dict[str, Any]]:
        meta = body["metadata"]
        cached = self.ctx.desired.get(meta["uid"])
        if cached is not None and cached[0] == meta.get("generation"):
            return list(json.loads(cached[1]))
        pool = AgentPool.model_validate(plain(body))
        children = build_children(
            pool,
            self.ctx.settings,
            self.ctx.policy,
            self.ctx.api_server_egress,
            keda=self.ctx.keda,
        )
        owner = owner_reference(body)
        for child in children:
            child["metadata"]["ownerReferences"] = [owner]
        self.ctx.desired[meta["uid"]] = (meta.get("generation"), json.dumps(children))
        return children

    async def reconcile(self, body: Any, *, prune: bool) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        async with self.ctx.reconcile_slots, self.ctx.locks[(KIND, namespace, name)]:
            with reconciling(KIND):
                await self._reconcile(body, prune=prune)

    async def _reconcile(self, body: Any, *, prune: bool) -> None:
        try:
            children = self.desired(body)
        except (ValidationError, SpecError) as exc:
            found = exc.problems if isinstance(exc, SpecError) else problems_from(exc)
            problems = "; ".join(str(p) for p in found)
            await self.write_status(body, stalled=f"invalid spec: {problems}")
            raise kopf.PermanentError(problems) from None
        for child in children:
            try:
                applied = await self.ctx.kube.apply(child)
            except KubeError as exc:
                if namespace_going_away(exc):
                    meta = body["metadata"]
                    log.info("%s/%s: its namespace is going away", meta["namespace"], meta["name"])
                    return
                if exc.status != 422:  # Invalid: this spec will never give an object it admits
                    raise
                kind, name = child["kind"], child["metadata"]["name"]
                why = str(exc).removeprefix(f"HTTP {exc.status}: ")
                refused = f"spec: the API server refuses the {kind} {name} built from it: {why}"
                await self.write_status(body, stalled=refused)
                raise kopf.PermanentError(refused) from None
            if child["kind"] in ("Deployment", "StatefulSet"):
                self.ctx.note_workload(body["metadata"]["uid"], workload_view(applied))
        if prune:
            await self.prune(body, children)
        await self.write_status(body)

    async def prune(self, body: Any, children: list[dict[str, Any]]) -> None:
        """Delete children the spec no longer wants (an HPA after autoscaling is unset, say)."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        wanted = {(c["kind"], c["metadata"]["name"]) for c in children}
        for api_version, kind, child_name in optional_children(name, keda=self.ctx.keda):
            if (kind, child_name) not in wanted:
                found = await self.ctx.kube.get(api_version, kind, namespace, child_name)
                if found is not None and is_owned_by(found, body["metadata"]["uid"]):
                    await self.ctx.kube.delete(api_version, kind, namespace, child_name)
                    log.info(
                        "%s/%s: deleted %s %s it no longer needs", namespace, name, kind, child_name
                    )

    async def repair(self, body: Any, event_type: str | None, child: Any) -> None:
        """A managed child changed: put back what drifted, then refresh the pool's status."""
        kind, child_name = child["kind"], child["metadata"]["name"]
        try:
            desired = next(
                c
                for c in self.desired(body)
                if c["kind"] == kind and c["metadata"]["name"] == child_name
            )
        except (StopIteration, ValidationError, SpecError):
            return
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        if event_type == "DELETED" or not subset(desired, dict(child)):
            async with self.ctx.locks[(KIND, namespace, name)]:
                log.info("%s/%s: putting back %s %s", namespace, name, kind, child_name)
                try:
                    child = await self.ctx.kube.apply(desired)
                except KubeError as exc:
                    if namespace_going_away(exc):
                        return
                    raise
        if kind in ("Deployment", "StatefulSet"):
            self.ctx.note_workload(body["metadata"]["uid"], workload_view(child))
            await self.write_status(body)

    async def write_status(self, body: Any, *, stalled: str = "") -> None:
        """Status from the newest workload known; one writer per pool at a time."""
        uid = body["metadata"]["uid"]
        async with self.ctx.status_locks[uid]:
            await self._write_status(body, self.ctx.workloads.get(uid), stalled=stalled)

    async def _write_status(
        self, body: Any, workload: dict[str, Any] | None, *, stalled: str
    ) -> None:
        meta = body["metadata"]
        previous = self.ctx.written.get(meta["uid"]) or dict(body.get("status") or {})
        generation = meta.get("generation")
        external = self.ctx.external.get((meta["namespace"], meta["name"]), 0)
        status: dict[str, Any] = {
            "selector": f"{POOL_LABEL}={meta['name']}",
            "observedGeneration": generation,
            "externalMembers": external,
        }
        if stalled:
            health, reason, message = Health.STALLED, "InvalidSpec", stalled
        elif workload is None:
            health, reason, message = Health.PROGRESSING, "Creating", "creating the workload"
        else:
            spec, wstatus = workload.get("spec", {}), workload.get("status", {})
            desired = int(spec.get("replicas", 0) or 0)
            ready = int(wstatus.get("readyReplicas", 0) or 0)
            updated = int(wstatus.get("updatedReplicas", 0) or 0)
            current = wstatus.get("observedGeneration") == workload["metadata"].get("generation")
            status["replicas"] = desired
            status["readyReplicas"] = ready
            message = f"{ready}/{desired} replicas ready"
            if external:
                message += f"; {external} external member(s)"
            if current and ready >= desired and updated >= desired:
                health, reason = Health.READY, "ReplicasReady"
            else:
                health, reason = Health.PROGRESSING, "ReplicasNotReady"
        status["conditions"] = conditions(
            health,
            reason=reason,
            message=message,
            generation=generation,
            previous=previous.get("conditions"),
        )
        unchanged = all(previous.get(k) == v for k, v in status.items() if k != "conditions")
        if unchanged and same_conditions(previous.get("conditions"), status["conditions"]):
            return
        try:
            await self.ctx.kube.patch_status(
                body["apiVersion"], KIND, meta["namespace"], meta["name"], status
            )
        except KubeError as exc:
            if exc.status != 404:  # a pool deleted meanwhile needs no status
                raise
        self.ctx.written[meta["uid"]] = status


def workload_view(workload: Any) -> dict[str, Any]:
    """What the pool's status is made from: one is kept per pool, so not the pod template."""
    meta, spec, status = (workload.get(k) or {} for k in ("metadata", "spec", "status"))
    return {
        "metadata": {k: meta[k] for k in ("generation", "resourceVersion") if k in meta},
        "spec": {"replicas": spec.get("replicas")},
        "status": {
            k: status[k]
            for k in ("observedGeneration", "replicas", "readyReplicas", "updatedReplicas")
            if k in status
        },
    }


def reconciler(memo: kopf.Memo) -> PoolReconciler:
    return PoolReconciler(context_of(memo))


def needs_prune(body: Any, reason: str) -> bool:
    """Whether children the spec does not want may exist: not for a pool never reconciled whose
    spec never changed. kopf keeps what it handled in memory (agents_operator.persistence), so
    after a restart every pool comes as created: its status tells one reconciled before."""
    if reason != "create":
        return True
    observed = (body.get("status") or {}).get("observedGeneration")
    return bool(observed) or (body["metadata"].get("generation") or 1) > 1


@kopf.on.resume(GROUP, VERSION, "agentpools")
@kopf.on.create(GROUP, VERSION, "agentpools")
async def pool_created(body: kopf.Body, memo: kopf.Memo, reason: str, **_: Any) -> None:
    await reconciler(memo).reconcile(body, prune=needs_prune(body, reason))


@kopf.on.update(GROUP, VERSION, "agentpools", field="spec")
async def pool_updated(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    await reconciler(memo).reconcile(body, prune=True)


@kopf.on.event(GROUP, VERSION, "agentpools", id="forget-deleted-pools")
async def pool_gone(
    event: kopf.RawEvent,
    body: kopf.Body,
    memo: kopf.Memo,
    pools_by_name: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """Drop what was kept for a deleted pool, so memory follows the number of live pools."""
    if event.get("type") != "MODIFIED":  # a count is a walk over every pool: not per status write
        count_managed(KIND, pools_by_name)
    if event.get("type") == "DELETED":
        ctx = context_of(memo)
        ctx.forget(body["metadata"]["uid"])
        ctx.locks.pop((KIND, body["metadata"]["namespace"], body["metadata"]["name"]), None)


async def _child_event(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, pools_by_name: kopf.Index[Any, Any]
) -> None:
    namespace = body["metadata"].get("namespace")
    owners = [
        ref["name"]
        for ref in body["metadata"].get("ownerReferences") or []
        if ref.get("kind") == KIND
        and ref.get("controller")
        and ref.get("apiVersion", "").startswith(GROUP)
    ]
    if not owners:
        return
    found = pools_by_name.get((namespace, owners[0]))
    if not found:
        return  # the pool is gone: the garbage collector removes its children
    pool = next(iter(found))
    if not is_owned_by(body, pool["metadata"]["uid"]):
        return
    if pool["metadata"].get("deletionTimestamp"):
        return
    await reconciler(memo).repair(pool, event.get("type"), body)


for _resource in [
    ("apps", "v1", "deployments"),
    ("apps", "v1", "statefulsets"),
    ("v1", "services"),
    ("v1", "serviceaccounts"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("networking.k8s.io", "v1", "networkpolicies"),
    ("keda.sh", "v1alpha1", "scaledobjects"),  # watched once KEDA's CRD is there
]:
    # Matched by owner reference, not labels: a child whose labels were edited is still ours.
    @kopf.on.event(
        *_resource,
        id=f"child-{_resource[-1]}",
    )
    async def child_event(
        event: kopf.RawEvent,
        body: kopf.Body,
        memo: kopf.Memo,
        pools_by_name: kopf.Index[Any, Any],
        **_: Any,
    ) -> None:
        await _child_event(event, body, memo, pools_by_name)
