"""The chart and the kustomize overlays against the real control plane (kwok: no images pulled).

Every rendered object passes the API server's strict validation; an installed release's operator
RBAC is enough for the operator run locally with that ServiceAccount's token (and kopf peering
keeps one replica working); upgrade applies changed values; uninstall leaves only the CRDs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import EXAMPLES, REPO
from tests.deploy.chart_values import FULL
from tests.deploy.tools import (
    CHART,
    CLUSTER_KINDS,
    MANIFESTS,
    binary,
    helm_env,
    helm_template,
    kustomize,
    run,
    set_args,
)
from tests.kube_harness import run_kubectl, token_kubeconfig
from tests.operator_harness import eventually
from tests.processes import free_port, start_cluster_gateway, stop, wait_healthy

pytestmark = pytest.mark.cluster

HERE = Path(__file__).parent
CRDS = ["agentpools.configurable-agents.io", "workflows.configurable-agents.io"]
PEERING_CRDS = ["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]
POOL = """
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {name: pool}
spec: {capabilities: [llm], replicas: 1, resources: {limits: {memory: 512Mi}}}
"""


@pytest.fixture(scope="module")
def extra_crds(control_plane: Any) -> None:
    """kopf's peering CRDs (from the chart) and test stand-ins for monitoring and Gateway API."""
    run_kubectl(
        control_plane,
        "apply",
        "--server-side",
        "-f",
        str(CHART / "crds" / "kopf-peering.yaml"),
        "-f",
        str(HERE / "stub-crds.yaml"),
    )
    run_kubectl(
        control_plane, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"
    )


def dry_run(
    kubectl: Any, *source: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc: subprocess.CompletedProcess[str] = kubectl(
        "apply", "--dry-run=server", "--validate=strict", *source, stdin=stdin
    )
    assert "would violate PodSecurity" not in proc.stderr, proc.stderr
    assert "unknown field" not in proc.stderr.lower(), proc.stderr
    return proc


#: Cluster scope with the dashboard as a sidecar, an external store and the gateway autoscaled.
CLUSTER_SIDECAR: dict[str, Any] = {
    "store": {"url": "postgresql://runs@db.example.com/runs"},
    "ui": {"enabled": True, "mode": "sidecar"},
    "gateway": {"autoscaling": {"enabled": True}},
    "ingress": {"enabled": True, "uiHost": "ui.example.com"},
    "serviceMonitor": {"enabled": True},
    "networkPolicy": {"gatewayFrom": [{"namespaceSelector": {"matchLabels": {"ingress": "yes"}}}]},
}


@pytest.mark.parametrize("values", ["default", "full", "cluster-sidecar"])
def test_rendered_objects_pass_strict_server_validation(
    extra_crds: None,
    kubectl: Any,
    namespace: str,
    served: list[str],
    tmp_path: Path,
    values: str,
) -> None:
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/warn=restricted")
    chosen = {
        "default": {},
        "full": {**FULL, "rbac": {"scope": "namespaces", "namespaces": [namespace, *served]}},
        "cluster-sidecar": CLUSTER_SIDECAR,
    }[values]
    rendered = helm_template(tmp_path, chosen, release="v", namespace=namespace).stdout
    count = len([d for d in yaml.safe_load_all(rendered) if d])
    proc = dry_run(kubectl, "-f", "-", stdin=rendered)
    accepted = [line for line in proc.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == count, proc.stdout


#: The namespaces manifests/overlays/namespaced serves (they must exist, as with the chart).
OVERLAY_SERVED = ("team-a", "team-b")


@pytest.mark.parametrize(
    "overlay", ["base", "overlays/dev", "overlays/production", "overlays/namespaced"]
)
def test_kustomize_overlays_are_accepted(extra_crds: None, kubectl: Any, overlay: str) -> None:
    # Namespaced objects are checked against an existing namespace (a dry run creates none).
    for name in ("configurable-agents-system", *OVERLAY_SERVED):
        kubectl("create", "namespace", name, check=False)
    count = len(kustomize(overlay))
    proc = dry_run(kubectl, "-k", str(MANIFESTS / overlay))
    accepted = [line for line in proc.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == count, proc.stdout
    assert "deployment.apps/configurable-agents-operator" in proc.stdout
    assert "deployment.apps/configurable-agents-gateway" in proc.stdout


def test_namespaced_overlay_gateway_lists_its_namespaces_only(
    extra_crds: None,
    control_plane: Any,
    kubectl: Any,
    namespace: str,
    served: list[str],
    tmp_path: Path,
) -> None:
    """The namespaced overlay applied for real, moved onto this test's namespaces (and its
    cluster-scoped names made unique, so the operator tests' ClusterRole stays as it is): the
    gateway, with its ServiceAccount's token and the environment the overlay gives it, serves
    the Workflows of the two served namespaces and not those of a third."""
    prefix = f"k{uuid.uuid4().hex[:6]}"
    text = run([binary("kubectl"), "kustomize", str(MANIFESTS / "overlays/namespaced")]).stdout
    for old, new in (
        ("configurable-agents-system", namespace),
        ("configurable-agents-", f"{prefix}-"),
        *zip(OVERLAY_SERVED, served, strict=True),
    ):
        text = text.replace(old, new)
    docs = [
        d
        for d in yaml.safe_load_all(text)
        if d and d["kind"] not in ("CustomResourceDefinition", "Namespace")
    ]
    cluster_scoped = yaml.safe_dump_all([d for d in docs if d["kind"] in CLUSTER_KINDS])
    assert "ClusterRoleBinding" in cluster_scoped and prefix in cluster_scoped
    try:
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
        account = f"system:serviceaccount:{namespace}:{prefix}-gateway"
        for ns in (*served, namespace):
            kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "01-linear-chain" / "workflow.yaml"))

        # The API server's own answer: the gateway may list Workflows in the served namespaces,
        # neither cluster-wide nor in its own.
        def may_list(*where: str) -> bool:
            proc = kubectl(
                "auth",
                "can-i",
                "list",
                "workflows.configurable-agents.io",
                *where,
                f"--as={account}",
                check=False,
            )
            return bool(proc.stdout.strip() == "yes")

        assert all(may_list("-n", ns) for ns in served)
        assert not may_list("-n", namespace)
        assert not may_list("--all-namespaces")

        deployed = json.loads(
            kubectl("get", "deployment", f"{prefix}-gateway", "-n", namespace, "-o", "json").stdout
        )
        overlay_env = {
            e["name"]: e["value"]
            for e in deployed["spec"]["template"]["spec"]["containers"][0]["env"]
            if "value" in e
        }
        assert overlay_env["CONFIGURABLE_AGENTS_NAMESPACES"] == ",".join(served)
        overlay_env = mounted_policy(kubectl, namespace, prefix, overlay_env, tmp_path)
        config = token_kubeconfig(control_plane, namespace, f"{prefix}-gateway", tmp_path / "gw")
        want = {(ns, "linear-chain") for ns in served}
        assert serve_and_list(config, overlay_env, tmp_path, want) == want
    finally:
        kubectl("delete", "--ignore-not-found", "-f", "-", stdin=cluster_scoped, check=False)


class LocalOperator:
    """The operator as a local process, authenticated only by a token of the chart's account
    (and with ``settings``, e.g. the environment the chart gives it)."""

    def __init__(
        self,
        workdir: Path,
        kubeconfig: Path,
        *,
        namespace: str,
        peering: str,
        priority: int,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.log = workdir / f"operator-{priority}.log"
        self.health = free_port()
        env = dict(
            os.environ,
            **(settings or {}),
            KUBECONFIG=str(kubeconfig),
            CONFIGURABLE_AGENTS_OPERATOR_PEERING=peering,
            CONFIGURABLE_AGENTS_OPERATOR_PEERING_PRIORITY=str(priority),
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent_runtime",
                    "operator",
                    "--namespace",
                    namespace,
                    "--health-port",
                    str(self.health),
                    "--metrics-port",
                    "0",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(
            self.proc, f"http://127.0.0.1:{self.health}/healthz", self.log, what="operator"
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.proc, signal.SIGTERM)


@pytest.fixture
def served(kubectl: Any, namespace: str) -> Iterator[list[str]]:
    """Two namespaces for the release to serve (``rbac.scope: namespaces``)."""
    names = [f"{namespace[:50]}-served", f"{namespace[:50]}-also"]
    for name in names:
        kubectl("create", "namespace", name)
    yield names
    for name in names:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def serve_and_list(
    kubeconfig: Path,
    env_vars: dict[str, str],
    workdir: Path,
    want: set[tuple[str, str]],
    *args: str,
    token: str | None = None,
) -> set[tuple[str, str]]:
    """Start ``serve --kubernetes`` as the given account with the chart's environment (and
    ``args``); ready (every namespace listed), the (namespace, name) it serves to ``token``'s
    holder once ``want`` is among them."""
    proc, url, log = start_cluster_gateway(
        workdir, kubeconfig, *args, env=env_vars, ready="/readyz"
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        if token:  # authentication is on: nothing without a token
            assert httpx.get(f"{url}/v1/workflows", timeout=5).status_code == 401

        def served() -> set[tuple[str, str]]:
            items = httpx.get(f"{url}/v1/workflows", headers=headers, timeout=5).json()["items"]
            return {(w["namespace"], w["name"]) for w in items}

        found: set[tuple[str, str]] = eventually(lambda: want <= served() and served(), timeout=30)
        text = log.read_text(errors="replace")
        # (the API server's 403s always say "forbidden"; a bare "403" may be a port or a time)
        assert "forbidden" not in text.lower(), text[-3000:]
        return found
    finally:
        stop(proc, signal.SIGTERM)


def permissions_of(role_file: Path) -> set[tuple[str, str, str]]:
    role = yaml.safe_load(role_file.read_text())
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def can_i(kubectl: Any, account: str, group: str, resource: str, verb: str) -> bool:
    """The API server's own answer (SubjectAccessReview) for the account, in every namespace."""
    name, _, sub = resource.partition("/")
    target = f"{name}.{group}" if group else name
    extra = [f"--subresource={sub}"] if sub else []
    proc = kubectl(
        "auth", "can-i", verb, target, *extra, "--all-namespaces", f"--as={account}", check=False
    )
    return bool(proc.stdout.strip() == "yes")


def peers(kubectl: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    found = json.loads(kubectl("get", "kopfpeering", name, "-n", namespace, "-o", "json").stdout)
    return list((found.get("status") or {}).values())


def released(kubectl: Any, release: str, namespaces: list[str]) -> list[str]:
    """Every object still carrying the release's instance label, cluster-scoped or in namespaces."""
    selector = f"app.kubernetes.io/instance={release}"
    found = kubectl(
        "get",
        "clusterroles,clusterrolebindings,clusterkopfpeerings,"
        "validatingadmissionpolicies,validatingadmissionpolicybindings",
        "-l",
        selector,
        "-o",
        "name",
    ).stdout.split()
    kinds = "all,secrets,configmaps,serviceaccounts,roles,rolebindings,networkpolicies,pvc,poddisruptionbudgets,kopfpeerings,horizontalpodautoscalers"
    for ns in namespaces:
        found += [
            f"{ns}/{n}"
            for n in kubectl("get", kinds, "-n", ns, "-l", selector, "-o", "name").stdout.split()
        ]
    return found


def deployed_env(kubectl: Any, namespace: str, name: str) -> dict[str, str]:
    """The literal environment of a Deployment's first container, as installed."""
    deployed = json.loads(kubectl("get", "deployment", name, "-n", namespace, "-o", "json").stdout)
    return {
        e["name"]: e["value"]
        for e in deployed["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e
    }


def mounted_policy(
    kubectl: Any, namespace: str, prefix: str, env: dict[str, str], workdir: Path
) -> dict[str, str]:
    """``env`` for a local process, reading the installed tool policy ConfigMap as the pod does
    (where the pod mounts it, a local copy)."""
    assert env["CONFIGURABLE_AGENTS_POLICY_FILE"] == "/etc/configurable-agents/policy/policy.yaml"
    name = f"{prefix}-tool-policy"
    found = json.loads(kubectl("get", "configmap", name, "-n", namespace, "-o", "json").stdout)
    path = workdir / f"{name}.yaml"
    path.write_text(found["data"]["policy.yaml"])
    return {**env, "CONFIGURABLE_AGENTS_POLICY_FILE": str(path)}


def refused_pods(kubectl: Any, namespace: str) -> list[str]:
    """The messages of events saying a pod was refused by PodSecurity admission."""
    events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e["message"] for e in events if "PodSecurity" in e.get("message", "")]


def selected(kubectl: Any, namespace: str, labels: dict[str, str]) -> list[str]:
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    return list(
        kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "name").stdout.split()
    )


def assert_only_the_gateway_reaches_agents(
    kubectl: Any, release_ns: str, pool_ns: str, full: str
) -> None:
    """The pool's NetworkPolicy (the operator's) admits the release's gateway pods, which carry
    the task token; the gateway's own egress rule reaches the agent pods on their port."""
    found = json.loads(kubectl("get", "networkpolicy", "pool", "-n", pool_ns, "-o", "json").stdout)
    [rule] = found["spec"]["ingress"]
    [peer] = rule["from"]  # networkPolicy.agentsFrom is empty
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": release_ns}
    gateways = selected(kubectl, release_ns, peer["podSelector"]["matchLabels"])
    assert gateways and all("gateway" in name for name in gateways), gateways
    pod = json.loads(kubectl("get", gateways[0], "-n", release_ns, "-o", "json").stdout)
    token = next(v for v in pod["spec"]["volumes"] if v["name"] == "task-token")
    audience = token["projected"]["sources"][0]["serviceAccountToken"]["audience"]
    assert audience == "configurable-agents-agent"
    egress = json.loads(
        kubectl("get", "networkpolicy", f"{full}-gateway", "-n", release_ns, "-o", "json").stdout
    )["spec"]["egress"]
    to_agents = next(r for r in egress if r.get("to"))
    assert {"port": rule["ports"][0]["port"], "protocol": "TCP"} in to_agents["ports"]
    [expression] = to_agents["to"][0]["podSelector"]["matchExpressions"]
    assert expression["operator"] == "Exists"
    agents = selected(kubectl, pool_ns, found["spec"]["podSelector"]["matchLabels"])
    reached = kubectl("get", "pods", "-n", pool_ns, "-l", expression["key"], "-o", "name")
    assert agents and reached.stdout.split() == agents


def test_install_run_operator_upgrade_uninstall(
    extra_crds: None,
    control_plane: Any,
    kubectl: Any,
    namespace: str,
    served: list[str],
    tmp_path: Path,
) -> None:
    helm = binary("helm")
    env = helm_env(tmp_path, str(control_plane.kubeconfig))
    release = f"ca{uuid.uuid4().hex[:6]}"
    full = f"{release}-configurable-agents"
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    values = {"rbac": {"scope": "namespaces", "namespaces": served}}
    out = run(
        [helm, "install", release, str(CHART), "-n", namespace, *set_args(values)], env=env
    ).stdout
    assert "Run your first workflow" in out and "NOT FOR PRODUCTION" in out
    assert f"ValidatingAdmissionPolicy\n{full}-agentpool-policy: images only from" in out
    assert f"serve only these namespaces: {', '.join(served)}." in out
    target, other = served  # the operator's part below works in the first one

    # Every object of the release is there; the CRDs are established.
    manifest = run([helm, "get", "manifest", release, "-n", namespace], env=env).stdout
    listed = kubectl("get", "-f", "-", "-o", "name", stdin=manifest).stdout.split()
    assert len(listed) == len([d for d in yaml.safe_load_all(manifest) if d])
    kubectl(
        "wait",
        "--for=condition=Established",
        *[f"crd/{c}" for c in CRDS + PEERING_CRDS],
        "--timeout=30s",
    )
    # The restricted profile is enforced in the release namespace, and the pods are admitted.
    for component in ("operator", "gateway", "postgres"):
        eventually(
            lambda c=component: kubectl(
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                f"app.kubernetes.io/component={c}",
                "-o",
                "name",
            ).stdout.strip()
        )
    # ... and none was refused (that leaves a FailedCreate event naming PodSecurity).
    assert not refused_pods(kubectl, namespace)

    # The AgentPool policy is enforced in the served namespaces (tests/deploy/
    # test_agentpool_policy_cluster.py tries every rule): a pool with another registry's image
    # is refused, naming spec.image.
    foreign = POOL.replace("replicas: 1", "replicas: 1, image: docker.io/library/python:3.12")
    eventually(
        lambda: (
            "spec.image:"
            in kubectl(
                "apply", "--dry-run=server", "-n", target, "-f", "-", stdin=foreign, check=False
            ).stderr
        ),
        timeout=30,
    )

    # The operator, with nothing but the chart's RBAC and the settings the chart gives it,
    # reconciles a pool; peering keeps one active.
    kubeconfig = token_kubeconfig(
        control_plane, namespace, f"{full}-operator", tmp_path / "op.kubeconfig"
    )
    settings = deployed_env(kubectl, namespace, f"{full}-operator")
    assert settings.pop("CONFIGURABLE_AGENTS_OPERATOR_PEERING") == full
    settings = mounted_policy(kubectl, namespace, full, settings, tmp_path)
    first = LocalOperator(
        tmp_path, kubeconfig, namespace=target, peering=full, priority=200, settings=settings
    )
    second = None
    try:
        kubectl("apply", "-n", target, "-f", "-", stdin=POOL)
        kubectl("wait", "--for=condition=Ready", "agentpool/pool", "-n", target, "--timeout=60s")
        assert_only_the_gateway_reaches_agents(kubectl, namespace, target, full)
        second = LocalOperator(
            tmp_path, kubeconfig, namespace=target, peering=full, priority=100, settings=settings
        )
        # Both are in the peering object; the lower priority one starts paused and stays so.
        eventually(
            lambda: sorted(p["priority"] for p in peers(kubectl, target, full)) == [100, 200]
        )
        time.sleep(2)
        assert "Resuming operations" not in second.text()
        first.stop()
        eventually(lambda: "Resuming operations" in second.text(), timeout=60)
        kubectl("scale", "agentpool/pool", "-n", target, "--replicas=2")
        eventually(
            lambda: (
                kubectl(
                    "get", "deployment", "pool", "-n", target, "-o", "jsonpath={.spec.replicas}"
                ).stdout
                == "2"
            ),
            timeout=30,
        )
        for op in (first, second):  # (a 403 retried once, while new bindings propagate, is fine)
            assert "escalating" not in op.text() and "Not enough permissions" not in op.text()
    finally:
        first.stop()
        if second is not None:
            second.stop()

    # The gateway, with nothing but the chart's RBAC and the environment the chart gives it, is
    # ready (both namespaces listed) and serves the Workflows of both served namespaces, and
    # nothing of the release namespace, which it does not serve.
    for ns in (target, other, namespace):
        kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "01-linear-chain" / "workflow.yaml"))
    gateway_config = token_kubeconfig(
        control_plane, namespace, f"{full}-gateway", tmp_path / "gw.kubeconfig"
    )
    deployed = json.loads(
        kubectl("get", "deployment", f"{full}-gateway", "-n", namespace, "-o", "json").stdout
    )
    chart_env = {
        e["name"]: e["value"]
        for e in deployed["spec"]["template"]["spec"]["containers"][0]["env"]
        if "value" in e
    }
    assert chart_env["CONFIGURABLE_AGENTS_NAMESPACES"] == f"{target},{other}"
    chart_env = mounted_policy(kubectl, namespace, full, chart_env, tmp_path)
    # Authentication as the chart turns it on; the caller may edit both served namespaces (the
    # built-in `edit` role, which the chart's runner role aggregates into).
    auth_args = [a for a in deployed["spec"]["template"]["spec"]["containers"][0]["args"]]
    auth_args = [a for a in auth_args if a.startswith("--auth")]
    assert auth_args == ["--auth=kubernetes"]
    kubectl("create", "serviceaccount", "editor", "-n", namespace)
    for ns in (target, other):
        kubectl(
            "create",
            "rolebinding",
            "editor",
            "-n",
            ns,
            "--clusterrole=edit",
            f"--serviceaccount={namespace}:editor",
        )
    token = kubectl("create", "token", "editor", "-n", namespace).stdout.strip()
    want = {(target, "linear-chain"), (other, "linear-chain")}
    assert (
        serve_and_list(gateway_config, chart_env, tmp_path, want, *auth_args, token=token) == want
    )

    # Upgrade with changed values: applied, and the trial database keeps its password.
    password = kubectl(
        "get", "secret", f"{full}-postgres", "-n", namespace, "-o", "jsonpath={.data.password}"
    ).stdout
    upgraded = {
        **values,
        "gateway": {"replicas": 3},
        "ui": {"enabled": True},
        "networkPolicy": {"enabled": False},
    }
    run([helm, "upgrade", release, str(CHART), "-n", namespace, *set_args(upgraded)], env=env)
    gateway = json.loads(
        kubectl("get", "deployment", f"{full}-gateway", "-n", namespace, "-o", "json").stdout
    )
    assert gateway["spec"]["replicas"] == 3
    assert [c["name"] for c in gateway["spec"]["template"]["spec"]["containers"]] == [
        "gateway",
        "ui",
    ]
    assert not kubectl("get", "networkpolicies", "-n", namespace, "-o", "name").stdout.strip()
    # The new gateway pods, with the dashboard beside it, are admitted as restricted too.
    eventually(
        lambda: any(
            [c["name"] for c in pod["spec"]["containers"]] == ["gateway", "ui"]
            for pod in json.loads(
                kubectl(
                    "get",
                    "pods",
                    "-n",
                    namespace,
                    "-l",
                    "app.kubernetes.io/component=gateway",
                    "-o",
                    "json",
                ).stdout
            )["items"]
        ),
        timeout=60,
    )
    assert not refused_pods(kubectl, namespace)
    assert (
        kubectl(
            "get", "secret", f"{full}-postgres", "-n", namespace, "-o", "jsonpath={.data.password}"
        ).stdout
        == password
    )

    # Cluster scope: the operator account may do, everywhere, all that manifests/rbac/clusterrole.yaml
    # grants (tests/operator proves that is enough for a cluster-wide operator), and peer.
    run(
        [
            helm,
            "upgrade",
            release,
            str(CHART),
            "-n",
            namespace,
            "--reuse-values",
            "--set",
            "rbac.scope=cluster",
        ],
        env=env,
    )
    for ns in (target, other):
        assert not kubectl(
            "get",
            "roles,rolebindings",
            "-n",
            ns,
            "-l",
            f"app.kubernetes.io/instance={release}",
            "-o",
            "name",
        ).stdout.strip()
    kubectl("get", "clusterkopfpeering", full)
    account = f"system:serviceaccount:{namespace}:{full}-operator"
    needed = permissions_of(REPO / "manifests" / "rbac" / "clusterrole.yaml")
    assert ("kopf.dev", "clusterkopfpeerings", "patch") in needed
    denied = [n for n in sorted(needed) if not can_i(kubectl, account, *n)]
    assert not denied, f"the chart's operator account lacks {denied}"
    assert not can_i(kubectl, account, "", "secrets", "get"), "more than least privilege"

    # Uninstall leaves nothing of the release behind (the PVC goes with the StatefulSet), only CRDs.
    kubectl("delete", "agentpool/pool", "-n", target, "--wait=false")
    run([helm, "uninstall", release, "-n", namespace, "--wait", "--timeout=60s"], env=env)
    eventually(lambda: not released(kubectl, release, [namespace, target, other]), timeout=60)
    kubectl("get", *[f"crd/{c}" for c in CRDS + PEERING_CRDS])
