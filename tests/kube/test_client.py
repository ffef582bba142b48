"""The client's requests as the API server sees them, and its answers, against a scripted server."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_runtime.kube import KubeClient, KubeConfigError, KubeError, load_configuration
from tests.kube.fake_api import TOKEN, FakeApi, status

DEPLOYMENTS = "/apis/apps/v1/namespaces/ns/deployments"
POOLS = "/apis/configurable-agents.io/v1alpha1/namespaces/ns/agentpools"


def deployment(name: str = "web") -> dict[str, object]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"replicas": 2},
    }


async def test_apply_is_a_forced_server_side_apply_as_the_field_manager(
    api: FakeApi, client: KubeClient, verbs: list[str]
) -> None:
    answer = {**deployment(), "status": {"readyReplicas": 1}}
    api.answer("PATCH", f"{DEPLOYMENTS}/web", 200, answer)
    assert await client.apply(deployment()) == answer
    [seen] = api.requests("PATCH", f"{DEPLOYMENTS}/web")
    assert seen.headers["content-type"] == "application/apply-patch+yaml"
    assert seen.query == {"fieldManager": "tester", "force": "true"}
    assert seen.body == deployment()
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert verbs == ["patch"]


async def test_refusals_carry_the_status_and_the_servers_message(
    api: FakeApi, client: KubeClient
) -> None:
    api.answer("PATCH", f"{DEPLOYMENTS}/web", 422, status(422, "spec.replicas: Invalid value"))
    with pytest.raises(KubeError) as caught:
        await client.apply(deployment())
    assert caught.value.status == 422
    assert str(caught.value) == "HTTP 422: spec.replicas: Invalid value"


async def test_absent_objects_are_none_or_false_not_errors(
    api: FakeApi, client: KubeClient
) -> None:
    assert await client.get("apps/v1", "Deployment", "ns", "gone") is None
    assert await client.delete("apps/v1", "Deployment", "ns", "gone") is False
    assert await client.patch_status(POOL_VERSION, "AgentPool", "ns", "gone", {}) is None
    api.answer("GET", f"{DEPLOYMENTS}/web", 403, status(403, "forbidden"))
    with pytest.raises(KubeError, match="forbidden"):
        await client.get("apps/v1", "Deployment", "ns", "web")


POOL_VERSION = "configurable-agents.io/v1alpha1"


async def test_status_is_merged_into_the_status_subresource_of_our_kinds(
    api: FakeApi, client: KubeClient
) -> None:
    pool = {"apiVersion": POOL_VERSION, "kind": "AgentPool", "metadata": {"name": "p"}}
    api.answer("PATCH", f"{POOLS}/p/status", 200, {**pool, "status": {"replicas": 1}})
    patched = await client.patch_status(POOL_VERSION, "AgentPool", "ns", "p", {"replicas": 1})
    assert patched is not None and patched["status"] == {"replicas": 1}
    [seen] = api.requests("PATCH", f"{POOLS}/p/status")
    assert seen.headers["content-type"] == "application/merge-patch+json"
    assert seen.body == {"status": {"replicas": 1}}


async def test_delete_leaves_dependents_to_the_garbage_collector(
    api: FakeApi, client: KubeClient
) -> None:
    api.answer("DELETE", f"{DEPLOYMENTS}/web", 200, status(200, "deleted") | {"status": "Success"})
    assert await client.delete("apps/v1", "Deployment", "ns", "web") is True
    [seen] = api.requests("DELETE", f"{DEPLOYMENTS}/web")
    assert seen.query["propagationPolicy"] == "Background"


async def test_list_selects_by_label_in_one_namespace_or_all(
    api: FakeApi, client: KubeClient
) -> None:
    listed = {"metadata": {"resourceVersion": "7"}, "items": [deployment()]}
    api.answer("GET", DEPLOYMENTS, 200, listed)
    api.answer("GET", "/apis/apps/v1/deployments", 200, listed)
    items, version = await client.list("apps/v1", "Deployment", "ns", labels={"app": "web"})
    assert (items, version) == ([deployment()], "7")
    assert api.requests("GET", DEPLOYMENTS)[0].query == {"labelSelector": "app=web"}
    await client.list("apps/v1", "Deployment", None, labels={"app": None})
    assert api.requests("GET", "/apis/apps/v1/deployments")[0].query == {"labelSelector": "app"}


def test_a_missing_kubeconfig_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("KUBECONFIG", f"{missing}:{tmp_path / 'other'}")
    with pytest.raises(KubeConfigError) as caught:
        load_configuration()
    message = str(caught.value)
    assert message.startswith(
        f"no Kubernetes credentials: not in a pod, and the kubeconfig {missing} "
    )
    assert "\n" not in message


def test_a_kubeconfig_that_is_not_yaml_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    broken = tmp_path / "config"
    broken.write_text("clusters: [unclosed\n")
    monkeypatch.setenv("KUBECONFIG", str(broken))
    with pytest.raises(KubeConfigError) as caught:
        load_configuration()
    message = str(caught.value)
    assert message.startswith(
        f"no Kubernetes credentials: not in a pod, and the kubeconfig {broken}"
    )
    assert "\n" not in message


def test_the_first_kubeconfig_of_the_list_is_read(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", f"{api.kubeconfig(tmp_path)}:{tmp_path / 'other'}")
    config = load_configuration()
    assert config.cluster.server == api.url and config.namespace == "ns"
