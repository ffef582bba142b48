"""A gateway limited to several namespaces, against the real control plane.

One watch per namespace feeds one catalog and one registry; a third namespace's Workflows and
agents never appear; /readyz waits for every watch to have listed, and reports a watch that
lost its access (a RoleBinding removed) once it has failed long enough.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.cluster import ClusterWorkflows
from agent_runtime.gateway.registry import EndpointRegistry
from agent_runtime.gateway.watches import STALE_AFTER, STALE_FAILURES, TrackedWatch
from agent_runtime.kube import KubeClient, load_configuration
from tests.conftest import EXAMPLES
from tests.gateway.relay import Relay
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
  - {apiGroups: [configurable-agents.io], resources: [workflows, triggers], verbs: [list, watch]}
  - {apiGroups: [configurable-agents.io], resources: [triggers/status], verbs: [patch]}
  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [get, list, watch, create, patch, delete]
  - {apiGroups: [configurable-agents.io], resources: [agentpools], verbs: [get]}
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
                if error["code"] != "not_synced":
                    return {}
                # once the watches of a have listed (they may be a moment behind)
                in_b = all(f"/namespaces/{b}/" in p for p in error["details"]["pending"])
                return error if in_b else {}

            error = eventually(not_ready)
            pending = error["details"]["pending"]
            assert sorted(pending) == [
                f"/apis/configurable-agents.io/v1alpha1/namespaces/{b}/triggers",
                f"/apis/configurable-agents.io/v1alpha1/namespaces/{b}/workflows",
                f"/apis/coordination.k8s.io/v1/namespaces/{b}/leases",
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


def through(relay_for: Path, server: str) -> Relay:
    """A relay to the kubeconfig's API server, written into that kubeconfig."""
    address = urlsplit(server)
    relay = Relay((address.hostname or "127.0.0.1", address.port or 443))
    config = json.loads(relay_for.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{relay.port}"
    relay_for.write_text(json.dumps(config))
    return relay


def test_readiness_reports_a_watch_that_lost_its_access(
    control_plane: Any, kubectl: Any, three: list[str], tmp_path: Path
) -> None:
    """A RoleBinding removed under a running gateway: once the re-list has been refused for the
    bound, /readyz names the stale watches; a blip alone does not; access back, ready again."""
    a, b, _ = three
    role = f"{a[:50]}-gateway"
    account = f"system:serviceaccount:{a}:gw"
    kubectl("apply", "-f", "-", stdin=GATEWAY_ROLE.replace("NAME", role))
    kubectl("create", "serviceaccount", "gw", "-n", a)

    def bind(ns: str) -> None:
        kubectl(
            "create",
            "rolebinding",
            "gw",
            f"--clusterrole={role}",
            f"--serviceaccount={a}:gw",
            "-n",
            ns,
        )

    def may_list(ns: str) -> bool:
        proc = kubectl(
            "auth",
            "can-i",
            "list",
            "workflows.configurable-agents.io",
            "-n",
            ns,
            f"--as={account}",
            check=False,
        )
        return bool(proc.stdout.strip() == "yes")

    def readyz() -> httpx.Response:
        return httpx.get(f"{url}/readyz", timeout=5)

    relay = None
    try:
        bind(a)
        bind(b)
        config = token_kubeconfig(control_plane, a, "gw", tmp_path / "gw.kubeconfig")
        server = json.loads(config.read_text())["clusters"][0]["cluster"]["server"]
        relay = through(config, server)
        proc, url = start_serve(tmp_path, config, "--namespace", a, "--namespace", b)
        try:
            eventually(lambda: readyz().status_code == 200)
            want = {(a, "linear-chain"), (b, "linear-chain")}
            assert eventually(lambda: listed(url) == want and listed(url), timeout=30) == want

            # A blip alone (every connection cut, access intact): re-listed, still ready.
            assert relay.cut() >= 1
            time.sleep(3)
            assert readyz().status_code == 200, readyz().text

            # The binding in b goes; the open watches go on until they reconnect, then are refused.
            kubectl("delete", "rolebinding", "gw", "-n", b)
            eventually(lambda: not may_list(b))
            relay.cut()
            cut_at = time.monotonic()
            time.sleep(3)
            assert readyz().status_code == 200, "a few refusals are within the bound"

            expected = [
                f"/apis/configurable-agents.io/v1alpha1/namespaces/{b}/triggers",
                f"/apis/configurable-agents.io/v1alpha1/namespaces/{b}/workflows",
                f"/apis/coordination.k8s.io/v1/namespaces/{b}/leases",
                f"/apis/discovery.k8s.io/v1/namespaces/{b}/endpointslices",
            ]

            def failing() -> dict[str, Any]:
                """The error once every watch in b has crossed the bound: each watch re-lists on
                its own back-off, so they cross it a few seconds apart."""
                answer = readyz()
                if answer.status_code == 200:
                    return {}
                assert answer.status_code == 503, answer.text
                error: dict[str, Any] = answer.json()["error"]
                assert error["code"] == "watch_failing", error
                assert set(error["details"]["failing"]) <= set(expected), error
                return error if len(error["details"]["failing"]) == len(expected) else {}

            error = eventually(failing, timeout=STALE_AFTER + 40)
            assert time.monotonic() - cut_at >= STALE_AFTER - 1
            stale = sorted(error["details"]["failing"])
            assert stale == expected, stale
            assert all(path in error["message"] for path in stale)
            assert "forbidden" in error["message"].lower(), error["message"]
            assert listed(url) == want, "the last listing is still served meanwhile"

            # Access back: the next re-list succeeds and the gateway is ready again.
            bind(b)
            eventually(lambda: readyz().status_code == 200, timeout=60)
        finally:
            stop(proc, signal.SIGTERM)
    finally:
        if relay is not None:
            relay.close()
        kubectl("delete", "clusterrole", role, "--ignore-not-found", check=False)


async def test_a_watch_counts_as_failing_after_both_bounds(
    control_plane: Any,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused re-lists (an account with no RBAC) make a run of failures; it counts only once it
    has both enough errors and enough time, and a successful list ends it."""
    kubectl("create", "serviceaccount", "nobody", "-n", namespace)
    config = token_kubeconfig(control_plane, namespace, "nobody", tmp_path / "nobody.kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(config))
    client = KubeClient(load_configuration())
    now = [1000.0]
    watch = TrackedWatch(
        client,
        "configurable-agents.io/v1alpha1",
        "Workflow",
        lambda kind, obj: None,
        namespace=namespace,
        clock=lambda: now[0],
    )
    watch.start()
    try:
        for _ in range(100):
            if watch.failures >= STALE_FAILURES:
                break
            await asyncio.sleep(0.1)
        assert watch.failures >= STALE_FAILURES and "forbidden" in watch.last_error.lower()
        assert not watch.failing(), "enough errors, not yet for long enough"
        now[0] += STALE_AFTER
        assert watch.failing()
        assert not watch.failing(failures=watch.failures + 5), "long enough, not enough errors"
        # Access given: the next list succeeds and the run of failures is over.
        role = f"{namespace[:50]}-nobody"
        kubectl("apply", "-f", "-", stdin=GATEWAY_ROLE.replace("NAME", role))
        try:
            kubectl(
                "create",
                "rolebinding",
                "nobody",
                f"--clusterrole={role}",
                f"--serviceaccount={namespace}:nobody",
                "-n",
                namespace,
            )
            await asyncio.wait_for(watch.synced.wait(), 30)
            assert (watch.failures, watch.failing_since, watch.failing()) == (0, None, False)
        finally:
            kubectl("delete", "clusterrole", role, "--ignore-not-found", check=False)
    finally:
        await watch.stop()
        await client.aclose()
