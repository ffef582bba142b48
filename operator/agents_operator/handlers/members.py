"""Agents outside the cluster, as the operator sees them: the gateway's member Leases.

Each registered external agent is a ``coordination.k8s.io`` Lease in its pool's namespace,
labelled with the pool, its capabilities and ``external-member``, renewed by its heartbeat. A kopf
index keeps them; a member counts while ``renewTime + leaseDurationSeconds`` is in the future.
The pool's ``status.externalMembers`` and the capabilities of Workflows (``Ready`` when a
capability is served only by external members) follow them. A lapsed member's Lease is deleted by
the gateway within seconds (that event recounts); a timer on pools taking external members
recounts every few seconds too, so a lapse shows even while no gateway runs.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import kopf

from agents_operator.builders.labels import CAPABILITY_PREFIX, EXTERNAL_MEMBER_LABEL, POOL_LABEL
from agents_operator.handlers.context import context_of

log = logging.getLogger(__name__)

#: (namespace, pool) -> [(lease name, expires at (epoch seconds), capabilities)]
Members = kopf.Index[tuple[str, str], tuple[str, float, tuple[str, ...]]]


def _epoch(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@kopf.index("coordination.k8s.io", "v1", "leases", labels={EXTERNAL_MEMBER_LABEL: kopf.PRESENT})
async def external_members(
    namespace: str, name: str, labels: kopf.Labels, spec: kopf.Spec, **_: Any
) -> dict[Any, Any]:
    pool = labels.get(POOL_LABEL)
    if not pool:
        return {}
    expires = _epoch(spec.get("renewTime")) + float(spec.get("leaseDurationSeconds") or 0)
    capabilities = tuple(
        sorted(
            k.removeprefix(CAPABILITY_PREFIX)
            for k, v in labels.items()
            if k.startswith(CAPABILITY_PREFIX) and v == "true"
        )
    )
    return {(namespace, pool): (name, expires, capabilities)}


def live(members: Members | None, namespace: str, pool: str) -> list[tuple[str, ...]]:
    """The capabilities of each live external member of the pool."""
    if members is None:
        return []
    now = time.time()
    return [caps for _name, expires, caps in members.get((namespace, pool), []) if expires > now]


def count(members: Members | None, namespace: str, pool: str) -> int:
    return len(live(members, namespace, pool))


async def members_changed(
    body: kopf.Body,
    memo: kopf.Memo,
    external_members: Members,
    pools_by_name: kopf.Index[Any, Any],
) -> bool:
    """A member Lease changed: recount its pool (``recount``)."""
    namespace = body["metadata"].get("namespace")
    pool = (body["metadata"].get("labels") or {}).get(POOL_LABEL)
    if not namespace or not pool:
        return False
    return await recount(namespace, pool, memo, external_members, pools_by_name)


async def recount(
    namespace: str,
    pool: str,
    memo: kopf.Memo,
    external_members: Members,
    pools_by_name: kopf.Index[Any, Any],
) -> bool:
    """Recount the pool's live members; True when the count changed (and status was written)."""
    ctx = context_of(memo)
    counted = count(external_members, namespace, pool)
    if ctx.external.get((namespace, pool)) == counted:
        return False
    ctx.external[(namespace, pool)] = counted
    log.info("AgentPool %s/%s: %d external member(s)", namespace, pool, counted)
    found = pools_by_name.get((namespace, pool))
    if found:
        from agents_operator.handlers.agentpool import reconciler  # the pool's status writer

        await reconciler(memo).write_status(next(iter(found)))
    return True
