"""``GET /v1/triggers`` lists a Trigger only to callers who may read its Workflow's runs, as RBAC
on the real control plane says (the shipped run-viewer and runner roles, per namespace)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.gateway.auth_harness import Tenants, bearer, kube_auth_gateway, tenants_in
from tests.gateway.conftest import GatewayProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def trigger(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "nightly", "namespace": namespace},
        "spec": {
            "workflow": "approve",
            "input": {"topic": "x"},
            "suspend": True,
            "schedule": {"schedule": "@daily"},
        },
    }


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenants_in(control_plane, tmp_path_factory.mktemp("triggers-auth")) as made:
        for ns in (made.a, made.b):
            path = made.workdir / "workflows" / f"{ns}-trigger.yaml"
            path.write_text(yaml.safe_dump(trigger(ns)))
        yield made


@pytest.fixture(scope="module")
def gateway(tenants: Tenants) -> Iterator[GatewayProcess]:
    with kube_auth_gateway(tenants) as started:
        yield started


@pytest.mark.parametrize(
    ("caller", "sees"),
    [("viewer-a", {"a"}), ("runner-a", {"a"}), ("runner-b", {"b"}), ("admin", {"a", "b"})],
)
def test_triggers_are_listed_to_who_may_read_their_runs(
    tenants: Tenants, gateway: GatewayProcess, caller: str, sees: set[str]
) -> None:
    where = {tenants.a: "a", tenants.b: "b"}
    with gateway.client() as client:
        answer = client.get("/v1/triggers", headers=bearer(tenants.tokens[caller]))
    assert answer.status_code == 200, answer.text
    listed = {where[i["namespace"]] for i in answer.json()["items"]}
    assert listed == sees


def test_no_token_is_unauthenticated(gateway: GatewayProcess) -> None:
    answer = httpx.get(f"{gateway.url}/v1/triggers", timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"
