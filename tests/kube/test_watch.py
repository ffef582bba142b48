"""List-then-watch against a scripted server: SYNCED lists, bookmarks, resumption, 410 re-lists."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agent_runtime.kube import KubeClient, Watch, load_configuration
from tests.kube.fake_api import fake_api, status

SLICES = "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices"


def endpoint_slice(name: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": version},
        "addressType": "IPv4",
        "endpoints": [],
    }


def bookmark(version: str) -> dict[str, Any]:
    # all a bookmark carries: a typed model would refuse it for the missing required fields
    return {
        "type": "BOOKMARK",
        "object": {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"resourceVersion": version},
        },
    }


async def test_changes_bookmarks_and_a_410_re_list(tmp_path: Path) -> None:
    told: list[tuple[str, Any]] = []
    with fake_api() as api:
        api.answer("GET", SLICES, 200, {"metadata": {"resourceVersion": "10"}, "items": []})
        api.answer("GET", SLICES, 200, [{"type": "ADDED", "object": endpoint_slice("a", "11")}])
        api.answer("GET", SLICES, 200, [bookmark("15")])
        api.answer("GET", SLICES, 200, [{"type": "ERROR", "object": status(410, "too old")}])
        relisted = {"metadata": {"resourceVersion": "20"}, "items": [endpoint_slice("b", "19")]}
        api.answer("GET", SLICES, 200, relisted)
        api.answer("GET", SLICES, 200, [{"type": "DELETED", "object": endpoint_slice("b", "21")}])
        client = KubeClient(load_configuration(str(api.kubeconfig(tmp_path))))
        watch = Watch(
            client,
            "discovery.k8s.io/v1",
            "EndpointSlice",
            lambda kind, obj: told.append((kind, obj)),
            namespace="ns",
            labels={"configurable-agents.io/pool": None},
            timeout_seconds=60,
        )
        assert watch.path == SLICES
        watch.start()
        try:
            for _ in range(200):
                if any(kind == "DELETED" for kind, _ in told):
                    break
                await asyncio.sleep(0.05)
        finally:
            await watch.stop()
            await client.aclose()
    assert [kind for kind, _ in told] == ["SYNCED", "ADDED", "SYNCED", "DELETED"]
    assert told[0][1] == {"items": []}
    assert told[2][1] == {"items": [endpoint_slice("b", "19")]}
    assert told[1][1] == endpoint_slice("a", "11")
    requests = api.requests("GET", SLICES)
    lists = [r.query for r in requests if "watch" not in r.query]
    watches = [r.query for r in requests if r.query.get("watch") == "true"]
    assert lists[:2] == [{"labelSelector": "configurable-agents.io/pool"}] * 2
    # resumed from the list, then from the change, then from the bookmark; after the 410, from
    # the new list
    assert [w["resourceVersion"] for w in watches[:4]] == ["10", "11", "15", "20"]
    assert all(w["allowWatchBookmarks"] == "true" for w in watches)
    assert all(w["timeoutSeconds"] == "60" for w in watches)
    assert watch.synced.is_set()


async def test_a_list_refused_is_retried_until_it_is_served(tmp_path: Path) -> None:
    told: list[str] = []
    with fake_api() as api:
        api.answer("GET", SLICES, 403, status(403, "endpointslices is forbidden"))
        api.answer("GET", SLICES, 200, {"metadata": {"resourceVersion": "3"}, "items": []})
        client = KubeClient(load_configuration(str(api.kubeconfig(tmp_path))))
        watch = Watch(
            client,
            "discovery.k8s.io/v1",
            "EndpointSlice",
            lambda k, o: told.append(k),
            namespace="ns",
        )
        watch.start()
        try:
            await asyncio.wait_for(watch.synced.wait(), 10)
        finally:
            await watch.stop()
            await client.aclose()
    assert told[0] == "SYNCED"
    assert len([r for r in api.requests("GET", SLICES) if "watch" not in r.query]) == 2
