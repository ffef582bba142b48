"""``GET /v1/budgets`` shows a namespace's budget and spend only to callers RBAC lets list runs
there, asked of the real control plane with real tokens (as ``GET /v1/runs`` does)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from agent_runtime.stores import open_store
from agent_runtime.stores.records import utcnow
from tests.gateway.auth_harness import AUDIENCE, Tenants, bearer, tenants_in
from tests.gateway.conftest import GatewayProcess
from tests.processes import stop

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenants_in(control_plane, tmp_path_factory.mktemp("budgets-auth")) as made:
        yield made


async def _spend(url: str, namespace: str, tokens: int) -> None:
    async with open_store(url) as store:
        await store.add_spend(namespace, tokens=tokens, cost=0.0, at=utcnow())


def test_each_caller_sees_the_namespaces_it_may_list(tenants: Tenants) -> None:
    workdir = tenants.workdir
    policy = workdir / "policy.yaml"
    policy.write_text(
        f"budgets:\n  namespaces:\n    {tenants.a}: {{tokensPerDay: 100}}\n"
        f"    {tenants.b}: {{tokensPerDay: 1000}}\n    elsewhere: {{tokensPerDay: 1}}\n"
    )
    store = f"sqlite:///{workdir / 'runs.db'}"
    asyncio.run(_spend(store, tenants.a, 150))
    asyncio.run(_spend(store, tenants.b, 20))
    gateway = GatewayProcess(
        store,
        workdir,
        "--auth",
        "kubernetes",
        "--auth-audience",
        AUDIENCE,
        workflows=workdir / "workflows",
        env={
            "KUBECONFIG": str(workdir / "gateway.kubeconfig"),
            "CONFIGURABLE_AGENTS_POLICY_FILE": str(policy),
        },
    )
    try:
        with gateway.client() as client:

            def shown(caller: str) -> dict[str, Any]:
                answer = client.get("/v1/budgets", headers=bearer(tenants.tokens[caller]))
                assert answer.status_code == 200, answer.text
                return {i["namespace"]: i for i in answer.json()["items"]}

            viewer = shown("viewer-a")
            assert set(viewer) == {tenants.a}
            assert viewer[tenants.a]["spend"]["day"]["tokens"] == 150
            assert [e["limit"] for e in viewer[tenants.a]["exceeded"]] == ["tokensPerDay"]
            runner_b = shown("runner-b")
            assert set(runner_b) == {tenants.b}
            assert runner_b[tenants.b]["exceeded"] == []
            # the admin may list everywhere: every namespace served or named by the policy
            assert set(shown("admin")) == {tenants.a, tenants.b, "elsewhere"}
            assert client.get("/v1/budgets").status_code == 401
    finally:
        stop(gateway.proc, signal.SIGTERM)
