"""kopf's diff base kept in memory: the same essence kopf builds, stored by uid, forgotten."""

from __future__ import annotations

from typing import Any

import kopf
from agents_operator.persistence import AnnotationsProgress, MemoryDiffBase

PREFIX = "configurable-agents.io"


def pool(**annotations: str) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "AgentPool",
        "metadata": {
            "name": "p",
            "namespace": "n",
            "uid": "uid-p",
            "generation": 2,
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
            "labels": {"team": "a"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                **annotations,
            },
        },
        "spec": {"capabilities": ["llm"], "env": [{"name": "A", "value": "1"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    return kopf.Body(raw)


def essence(storage: kopf.DiffBaseStorage, body: kopf.Body) -> Any:
    return AnnotationsProgress(prefix=PREFIX).clear(essence=storage.build(body=body))


def test_the_essence_is_the_one_kopf_builds() -> None:
    kopfs = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX, key="last-handled-configuration")
    for body in (
        pool(),
        pool(note="x"),
        pool(**{f"{PREFIX}/pool-created": '{"retries": 1}'}),  # kopf's progress: not essential
        pool(**{f"{PREFIX}/last-handled-configuration": "{}"}),  # an older operator's diff base
    ):
        ours = essence(MemoryDiffBase(), body)
        assert ours == essence(kopfs, body)
        assert "status" not in ours and "managedFields" not in ours["metadata"]


def test_it_is_kept_by_uid_until_forgotten() -> None:
    storage, body = MemoryDiffBase(), pool()
    assert storage.fetch(body=body) is None
    built = storage.build(body=body)
    storage.store(body=body, patch=kopf.Patch(), essence=built)
    assert storage.fetch(body=body) == built
    storage.forget("uid-p")
    assert storage.fetch(body=body) is None and len(storage) == 0


def test_the_essence_shares_nothing_with_the_event() -> None:
    """kopf hands the body's dicts to later events' diffs: the stored essence is a copy."""
    body = pool()
    built = MemoryDiffBase().build(body=body)
    built["spec"]["env"][0]["value"] = "changed"
    assert body["spec"]["env"][0]["value"] == "1"
