"""Threads under real authentication and RBAC: another tenant can neither read, find, change,
copy, delete nor run on a thread in a namespace it may not read, and learns nothing (404 like a
thread that does not exist); a viewer reads but changes nothing (403).

The same real parts as ``test_auth_matrix``: tokens from the control plane's TokenRequest API,
the shipped ClusterRoles bound per namespace, a ``serve --auth kubernetes`` process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.gateway.auth_harness import (
    Tenants,
    bearer,
    kube_auth_gateway,
    start_run,
    tenants_in,
)
from tests.gateway.conftest import GatewayProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SECRET = {"owner": "tenant-a", "secret": "do-not-leak"}


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenants_in(control_plane, tmp_path_factory.mktemp("thread-auth")) as made:
        yield made


@pytest.fixture(scope="module")
def gateway(tenants: Tenants) -> Iterator[GatewayProcess]:
    with kube_auth_gateway(tenants) as started:
        yield started


def thread_of_a(client: httpx.Client, tenants: Tenants) -> dict[str, Any]:
    """A thread runner-a made in A, with a run of runner-a waiting on it."""
    token = tenants.tokens["runner-a"]
    made = client.post(
        "/v1/threads", json={"namespace": tenants.a, "metadata": SECRET}, headers=bearer(token)
    )
    assert made.status_code == 201, made.text
    thread: dict[str, Any] = made.json()
    start_run(client, token, tenants.a, threadId=thread["id"])
    return thread


def attempts(
    client: httpx.Client, tenants: Tenants, tid: str, headers: dict[str, str]
) -> dict[str, httpx.Response]:
    """Every route a caller could try on a thread, by name."""
    return {
        "get": client.get(f"/v1/threads/{tid}", headers=headers),
        "patch": client.patch(f"/v1/threads/{tid}", json={"metadata": {"x": 1}}, headers=headers),
        "history": client.get(f"/v1/threads/{tid}/history", headers=headers),
        "runs": client.get(f"/v1/threads/{tid}/runs", headers=headers),
        "copy": client.post(f"/v1/threads/{tid}/copy", json={}, headers=headers),
        "delete": client.delete(f"/v1/threads/{tid}", headers=headers),
    }


def test_another_tenant_learns_and_changes_nothing(
    tenants: Tenants, gateway: GatewayProcess
) -> None:
    admin, intruder = bearer(tenants.tokens["admin"]), bearer(tenants.tokens["runner-b"])
    with gateway.client() as client:
        thread = thread_of_a(client, tenants)
        tid = thread["id"]
        before = client.get(f"/v1/threads/{tid}", headers=admin).json()
        assert before["status"] == "interrupted"
        for route, answer in attempts(client, tenants, tid, intruder).items():
            assert answer.status_code == 404, f"{route}: {answer.text}"
            assert answer.json()["error"] == {
                "code": "thread_not_found",
                "message": f"thread {tid!r} not found",
            }, route
            assert "do-not-leak" not in answer.text and tenants.a not in answer.text
        # running on it: from B's own workflow, and from A's
        for namespace in (tenants.b, tenants.a):
            ran = client.post(
                f"/v1/workflows/{namespace}/approve/runs",
                json={"input": {"topic": "steal"}, "threadId": tid},
                headers=intruder,
            )
            assert ran.status_code == 404, ran.text
            assert "do-not-leak" not in ran.text
        for params in ({}, {"namespace": tenants.a}, {"metadata": '{"secret": "do-not-leak"}'}):
            found = client.get("/v1/threads", params=params, headers=intruder)
            assert found.status_code == 200, found.text
            assert tid not in {t["id"] for t in found.json()["items"]}, params
        made = client.post("/v1/threads", json={"namespace": tenants.a}, headers=intruder)
        assert made.status_code == 403, made.text
        after = client.get(f"/v1/threads/{tid}", headers=admin).json()
        del before["permissions"], after["permissions"]
        assert after == before, "a refused call changed the thread"
        # B's own thread in B: B's to use, and A's runner cannot see it either
        own = client.post("/v1/threads", json={"namespace": tenants.b}, headers=intruder)
        assert own.status_code == 201, own.text
        seen = client.get(
            f"/v1/threads/{own.json()['id']}", headers=bearer(tenants.tokens["runner-a"])
        )
        assert seen.status_code == 404


def test_a_viewer_reads_but_changes_nothing(tenants: Tenants, gateway: GatewayProcess) -> None:
    viewer = bearer(tenants.tokens["viewer-a"])
    with gateway.client() as client:
        thread = thread_of_a(client, tenants)
        tid = thread["id"]
        tried = attempts(client, tenants, tid, viewer)
        assert {route: answer.status_code for route, answer in tried.items()} == {
            "get": 200,
            "patch": 403,
            "history": 200,
            "runs": 200,
            "copy": 403,
            "delete": 403,
        }
        assert tried["get"].json()["permissions"] == {"get": True, "update": False}
        assert tried["get"].json()["metadata"] == SECRET
        listed = client.get("/v1/threads", params={"namespace": tenants.a}, headers=viewer)
        assert tid in {t["id"] for t in listed.json()["items"]}
        # the thread waits for its run's answer: another run on it is refused
        second = client.post(
            f"/v1/workflows/{tenants.a}/approve/runs",
            json={"input": {"topic": "again"}, "threadId": tid},
            headers=bearer(tenants.tokens["runner-a"]),
        )
        assert second.status_code == 409, second.text
        assert second.json()["error"]["details"]["thread"] == tid
