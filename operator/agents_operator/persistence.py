"""Where kopf keeps what it last handled of each object: in memory, not in the object.

kopf compares each event's "essence" (spec, labels, annotations) with the one it last handled to
tell a creation from an update. By default it keeps that essence in an annotation, which costs a
PATCH of every pool after each handled change (and the watch event that PATCH makes). Kept in
memory, a restarted operator (or a newly elected peer) sees every pool as new and reconciles it:
the same work resuming did, and the pool's status tells a pool seen before (see
``agentpool.needs_prune``).

kopf also builds and clears an essence for every event of every kind it watches (children
included), deep-copying the whole body each time, managed fields and status too: here only the
fields of the essence are copied, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import kopf

#: The metadata fields an essence keeps (kopf's own choice).
_ESSENTIAL_METADATA = ("labels", "annotations")


class MemoryDiffBase(kopf.DiffBaseStorage):
    """The last handled essence of each object, by uid, for as long as the object lives."""

    def __init__(self) -> None:
        super().__init__()
        self._essences: dict[str, kopf.BodyEssence] = {}

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        if extra_fields:  # handlers watching fields outside the essence: kopf's way
            return super().build(body=body, extra_fields=extra_fields)
        meta = body.get("metadata") or {}
        slim: dict[str, Any] = {k: v for k, v in body.items() if k not in ("metadata", "status")}
        slim["metadata"] = {k: meta[k] for k in _ESSENTIAL_METADATA if k in meta}
        return super().build(body=kopf.Body(cast(kopf.RawBody, slim)))

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return self._essences.get(body.get("metadata", {}).get("uid", ""))

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        uid = body.get("metadata", {}).get("uid")
        if uid:
            self._essences[uid] = essence  # built for this event: nothing else holds it

    def forget(self, uid: str) -> None:
        self._essences.pop(uid, None)

    def __len__(self) -> int:
        return len(self._essences)


class AnnotationsProgress(kopf.AnnotationsProgressStorage):
    """kopf's progress annotations (kept: a retried handler's state must survive a restart),
    without a deep copy of every essence that carries none of them, and without kopf's
    ``PREFIX/kopf-managed`` marker: kopf writes it beside the first progress record, so even a
    handler that succeeds at once (its record purged in the same patch) cost a PATCH of the pool.
    It tells other kopf operators to ignore our annotations; none watches our pools."""

    def _store_marker(self, prefix: str, patch: kopf.Patch, body: kopf.Body) -> None:
        return None

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        annotations = (essence.get("metadata") or {}).get("annotations") or {}
        if any(key.startswith(f"{self.prefix}/") for key in annotations):
            return super().clear(essence=essence)
        return essence
