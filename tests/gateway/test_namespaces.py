"""A gateway limited to several namespaces, against the real control plane.

One watch per namespace feeds one catalog and one registry; a third namespace's Workflows and
agents never appear; /readyz waits for every watch to have listed.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.cluster import ClusterWorkflows
from agent_runtime.gateway.registry import EndpointRegistry
from agent_runtime.kube import KubeClient, load_configuration
from tests.conftest import EXAMPLES
from tests.gateway.test_registry import POOL, until
from tests.kube_harness import token_kubeconfig
from tests.operator_harness import eventually
from tests.processes import start_cluster_gateway, stop

pytestmark = pytest.mark.cluster

WORKFLOW = EXAMPLES / "01-linear-chain" / "workflow.yaml"
GATEWAY_ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: NAME}
rules:
  - {apiGroups: [configurable-agents.io], resources: [workflows], verbs: [list, watch]}
  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
"""


@pytest.fixture
def three(kubectl: Any, namespace: str) -> Iterator[list[str]]:
    """Three namespaces, each with a Workflow and a ready pool serving ``search``."""
    names = [namespace, *(f"{namespace[:54]}-{s}" for s in ("b", "c"))]
    for name in names[1:]:
        kubectl("create", "namespace", name)
    try:
        for name in names:
            kubectl("apply", "-n", name, "-f", str(WORKFLOW))
            kubectl("apply", "-n", name, "-f", "-", stdin=POOL)
        yield names
    finally:
        for name in names[1:]:
            kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def served(catalog: Catalog) -> set[tuple[str, str]]:
    return {(e.namespace, e.name) for e in catalog.entries()}


async def test_two_watched_namespaces_feed_one_cache_and_a_third_stays_out(
    three: list[str], kubectl: Any, kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = three
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    client = KubeClient(load_configuration())
    catalog = Catalog()
    registry = EndpointRegistry(client, namespaces=[a, b, a], address_map={})
    workflows = ClusterWorkflows(client, catalog, namespaces=[a, b])
    # One watch per namespace (a repeated one once), none cluster-wide.
    for watches in (registry.watches, workflows.watches):
        paths = [w.path for w in watches.watches]
        assert [p.split("/namespaces/")[1].split("/")[0] for p in paths] == [a, b], paths
    registry.start()
    workflows.start()
    try:
        await asyncio.wait_for(registry.watches.wait_synced(), 15)
        await asyncio.wait_for(workflows.watches.wait_synced(), 15)
        await until(
            registry, lambda: all(len(registry.endpoints("search", ns)) == 2 for ns in (a, b))
        )
        assert registry.endpoints("search", c) == []
        assert len(registry.endpoints("search")) == 4, "only the two namespaces' endpoints"
        for _ in range(100):
            if served(catalog) == {(a, "linear-chain"), (b, "linear-chain")}:
                break
            await asyncio.sleep(0.1)
        assert served(catalog) == {(a, "linear-chain"), (b, "linear-chain")}

        # A re-list of one namespace (a watch reconnecting) replaces only that namespace's part.
        relisted = registry.watches.watches[1]
        await relisted.stop()
        relisted.synced.clear()
        relisted.start()
        await asyncio.wait_for(relisted.synced.wait(), 15)
        assert len(registry.endpoints("search", a)) == 2
        assert len(registry.endpoints("search", b)) == 2

        # Changes in one namespace reach the shared caches; the other namespace's part stays.
        await asyncio.to_thread(kubectl, "scale", "deployment/searchers", "--replicas=0", "-n", a)
        await asyncio.to_thread(kubectl, "delete", "workflow", "linear-chain", "-n", a)
        await until(registry, lambda: registry.endpoints("search", a) == [])
        assert len(registry.endpoints("search", b)) == 2
        for _ in range(100):
            if served(catalog) == {(b, "linear-chain")}:
                break
            await asyncio.sleep(0.1)
        assert served(catalog) == {(b, "linear-chain")}
    finally:
        await registry.stop()
        await workflows.stop()
        await client.aclose()


def start_serve(
    workdir: Path, kubeconfig: Path | str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    proc, url, _ = start_cluster_gateway(workdir, kubeconfig, *args, env=env)
    return proc, url


def listed(url: str) -> set[tuple[str, str]]:
    items = httpx.get(f"{url}/v1/workflows", timeout=5).json()["items"]
    return {(w["namespace"], w["name"]) for w in items}


@pytest.mark.parametrize("how", ["flags", "env"])
def test_serve_lists_the_workflows_of_the_given_namespaces_only(
    three: list[str], kubeconfig: str, tmp_path: Path, how: str
) -> None:
    a, b, _ = three
    if how == "flags":
        args, env = ["--namespace", a, "--namespace", b], {}
    else:  # the list from the chart's env var, with the old single-namespace one still honoured
        args, env = (
            [],
            {"CONFIGURABLE_AGENTS_NAMESPACES": f" {b} ,", "CONFIGURABLE_AGENTS_NAMESPACE": a},
        )
    proc, url = start_serve(tmp_path, kubeconfig, *args, env=env)
    try:
        eventually(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200)
        want = {(a, "linear-chain"), (b, "linear-chain")}
        assert eventually(lambda: listed(url) == want and listed(url), timeout=30) == want
    finally:
        stop(proc, signal.SIGTERM)


def test_readiness_waits_for_every_namespace_watch(
    control_plane: Any, kubectl: Any, three: list[str], tmp_path: Path
) -> None:
    """An account that may read one of two namespaces is not ready until it may read both."""
    a, b, _ = three
    role = f"{a[:50]}-gateway"
    kubectl("apply", "-f", "-", stdin=GATEWAY_ROLE.replace("NAME", role))
    kubectl("create", "serviceaccount", "gw", "-n", a)
    try:
        kubectl(
            "create",
            "rolebinding",
            "gw",
            f"--clusterrole={role}",
            f"--serviceaccount={a}:gw",
            "-n",
            a,
        )
        config = token_kubeconfig(control_plane, a, "gw", tmp_path / "gw.kubeconfig")
        proc, url = start_serve(tmp_path, config, "--namespace", a, "--namespace", b)
        try:

            def not_ready() -> dict[str, Any]:
                answer = httpx.get(f"{url}/readyz", timeout=5)
                assert answer.status_code == 503, answer.text
                error: dict[str, Any] = answer.json()["error"]
                return error if error["code"] == "not_synced" else {}

            error = eventually(not_ready)
            pending = error["details"]["pending"]
            assert sorted(pending) == [
                f"/apis/configurable-agents.io/v1alpha1/namespaces/{b}/workflows",
                f"/apis/discovery.k8s.io/v1/namespaces/{b}/endpointslices",
            ], pending
            assert listed(url) == {(a, "linear-chain")}, "what it may read is served meanwhile"
            kubectl(
                "create",
                "rolebinding",
                "gw",
                f"--clusterrole={role}",
                f"--serviceaccount={a}:gw",
                "-n",
                b,
            )
            eventually(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200, timeout=60)
            assert listed(url) == {(a, "linear-chain"), (b, "linear-chain")}
        finally:
            stop(proc, signal.SIGTERM)
    finally:
        kubectl("delete", "clusterrole", role, "--ignore-not-found", check=False)
