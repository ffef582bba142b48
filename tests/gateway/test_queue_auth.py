"""``GET /v1/namespaces/NS/queue`` answers only callers RBAC lets ``get`` ``agentpools/queue``
there (the shipped queue-reader role), asked of the real control plane with real tokens; that
role reads no run, and rights on runs do not read the queue."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import REPO
from tests.gateway.auth_harness import Tenants, bearer, kube_auth_gateway, start_run, tenants_in
from tests.gateway.conftest import GatewayProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ROLE = "configurable-agents-queue-reader"


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenants_in(control_plane, tmp_path_factory.mktemp("queue-auth")) as made:
        made.kubectl("apply", "-f", str(REPO / "manifests" / "rbac" / "queue-reader.yaml"))
        # bound in namespace A only: a RoleBinding to the ClusterRole
        made.tokens["reader-a"] = made.account(made.a, "reader-a", ROLE)
        yield made


@pytest.fixture(scope="module")
def gateway(tenants: Tenants) -> Iterator[GatewayProcess]:
    with kube_auth_gateway(tenants) as started:
        yield started


def test_only_the_queue_reader_reads_the_figures_and_nothing_else(
    tenants: Tenants, gateway: GatewayProcess
) -> None:
    a, b = tenants.a, tenants.b
    with gateway.client() as client:

        def figures(namespace: str, caller: str | None) -> Any:
            token = tenants.tokens[caller] if caller else None
            return client.get(
                f"/v1/namespaces/{namespace}/queue",
                params={"capability": "llm"},
                headers=bearer(token),
            )

        run = start_run(client, tenants.tokens["runner-a"], a)  # waits at its human node

        answer = figures(a, "reader-a")
        assert answer.status_code == 200, answer.text
        assert answer.json()["namespace"] == a
        assert set(answer.json()) >= {"queued", "running", "total", "capabilities"}
        # its binding is in A only
        refused = figures(b, "reader-a")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert "agentpools/queue" in refused.json()["error"]["message"]
        # rights on runs are not rights on the queue
        assert figures(a, "viewer-a").status_code == 403
        assert figures(a, "runner-a").status_code == 403
        assert figures(a, "admin").status_code == 200
        assert figures(a, None).status_code == 401
        # the reader reads no run
        reader = bearer(tenants.tokens["reader-a"])
        assert client.get(f"/v1/runs/{run['id']}", headers=reader).status_code == 404
        listed = client.get("/v1/runs", headers=reader)
        assert listed.status_code == 200 and listed.json()["items"] == []
