"""An installed release against the real control plane (kwok: no images pulled): its operator
RBAC is enough for the operator run locally with that ServiceAccount's token (and kopf peering
keeps one replica working), its gateway's for the gateway; upgrade applies changed values and
cluster scope; uninstall leaves only the CRDs. One release, phase after phase.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES, REPO
from tests.deploy.local_operator import LocalOperator
from tests.deploy.release_probes import (
    assert_only_the_gateway_reaches_agents,
    can_i,
    deployed_env,
    first_container,
    literal_env,
    mounted_policy,
    peers,
    permissions_of,
    refused_pods,
    released,
    serve_and_list,
)
from tests.deploy.tools import CHART, binary, helm_env, run, set_args
from tests.kube_harness import token_kubeconfig
from tests.operator_harness import eventually

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("extra_crds")]

CRDS = [
    "agentpools.configurable-agents.io",
    "triggers.configurable-agents.io",
    "workflows.configurable-agents.io",
]
PEERING_CRDS = ["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]
POOL = """
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {name: pool}
spec: {capabilities: [llm], replicas: 1, resources: {limits: {memory: 512Mi}}}
"""


@dataclass
class Release:
    """The release under test: where it is installed and the namespaces it serves."""

    control_plane: Any
    kubectl: Any
    helm: str
    env: dict[str, str]
    name: str
    namespace: str
    #: The served namespace the operator's part works in, and the other one.
    target: str
    other: str
    workdir: Path

    @property
    def full(self) -> str:
        return f"{self.name}-configurable-agents"

    def helm_run(self, *args: str) -> str:
        return run([self.helm, *args, "-n", self.namespace], env=self.env).stdout

    def account_kubeconfig(self, component: str) -> Path:
        """A kubeconfig with a token of the component's ServiceAccount, and nothing more."""
        path = self.workdir / f"{component}.kubeconfig"
        return token_kubeconfig(
            self.control_plane, self.namespace, f"{self.full}-{component}", path
        )


def test_install_run_operator_upgrade_uninstall(
    control_plane: Any,
    kubectl: Any,
    namespace: str,
    served: list[str],
    tmp_path: Path,
) -> None:
    helm = binary("helm")
    env = helm_env(tmp_path, str(control_plane.kubeconfig))
    target, other = served
    release = Release(
        control_plane,
        kubectl,
        helm,
        env,
        f"ca{uuid.uuid4().hex[:6]}",
        namespace,
        target,
        other,
        tmp_path,
    )
    values = {"rbac": {"scope": "namespaces", "namespaces": served}}
    install(release, values)
    try:
        operator_with_the_charts_rbac(release)
        gateway_with_the_charts_rbac(release)
        upgrade(release, values)
        cluster_scope(release)
    except BaseException:
        # the release's cluster-scoped objects (its admission policy binding above all) would
        # refuse every later test's AgentPools: a failed phase takes the release with it
        subprocess.run(
            [helm, "uninstall", release.name, "-n", namespace, "--wait", "--timeout=60s"],
            env=env,
            check=False,
            capture_output=True,
        )
        raise

    # Uninstall leaves nothing of the release behind (the PVC goes with the StatefulSet), only CRDs.
    kubectl("delete", "agentpool/pool", "-n", target, "--wait=false")
    release.helm_run("uninstall", release.name, "--wait", "--timeout=60s")
    eventually(lambda: not released(kubectl, release.name, [namespace, target, other]), timeout=60)
    kubectl("get", *[f"crd/{c}" for c in CRDS + PEERING_CRDS])


def install(release: Release, values: dict[str, Any]) -> None:
    """Installed under the restricted profile: every object there, the pods admitted, the
    AgentPool policy enforced in the served namespaces."""
    kubectl, namespace, full = release.kubectl, release.namespace, release.full
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    out = release.helm_run("install", release.name, str(CHART), *set_args(values))
    assert "Run your first workflow" in out and "NOT FOR PRODUCTION" in out
    assert f"ValidatingAdmissionPolicy\n{full}-agentpool-policy: images only from" in out
    assert f"serve only these namespaces: {release.target}, {release.other}." in out

    # Every object of the release is there; the CRDs are established.
    manifest = release.helm_run("get", "manifest", release.name)
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
                "apply",
                "--dry-run=server",
                "-n",
                release.target,
                "-f",
                "-",
                stdin=foreign,
                check=False,
            ).stderr
        ),
        timeout=30,
    )


def operator_with_the_charts_rbac(release: Release) -> None:
    """The operator, with nothing but the chart's RBAC and the settings the chart gives it,
    reconciles a pool; peering keeps one active."""
    kubectl, namespace, full, target = (
        release.kubectl,
        release.namespace,
        release.full,
        release.target,
    )
    kubeconfig = release.account_kubeconfig("operator")
    settings = deployed_env(kubectl, namespace, f"{full}-operator")
    assert settings.pop("CONFIGURABLE_AGENTS_OPERATOR_PEERING") == full
    settings = mounted_policy(kubectl, namespace, full, settings, release.workdir)

    def operator(priority: int) -> LocalOperator:
        return LocalOperator(
            release.workdir,
            kubeconfig,
            namespace=target,
            peering=full,
            priority=priority,
            settings=settings,
        )

    first = operator(200)
    second = None
    try:
        kubectl("apply", "-n", target, "-f", "-", stdin=POOL)
        kubectl("wait", "--for=condition=Ready", "agentpool/pool", "-n", target, "--timeout=60s")
        assert_only_the_gateway_reaches_agents(kubectl, namespace, target, full)
        second = operator(100)
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


def gateway_with_the_charts_rbac(release: Release) -> None:
    """The gateway, with nothing but the chart's RBAC and the environment the chart gives it, is
    ready (both namespaces listed) and serves the Workflows of both served namespaces, and
    nothing of the release namespace, which it does not serve."""
    kubectl, namespace, full = release.kubectl, release.namespace, release.full
    target, other = release.target, release.other
    for ns in (target, other, namespace):
        kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "01-linear-chain" / "workflow.yaml"))
    gateway_config = release.account_kubeconfig("gateway")
    container = first_container(kubectl, namespace, f"{full}-gateway")
    chart_env = literal_env(container)
    assert chart_env["CONFIGURABLE_AGENTS_NAMESPACES"] == f"{target},{other}"
    chart_env = mounted_policy(kubectl, namespace, full, chart_env, release.workdir)
    # Authentication as the chart turns it on; the caller may edit both served namespaces (the
    # built-in `edit` role, which the chart's runner role aggregates into).
    auth_args = [a for a in container["args"] if a.startswith("--auth")]
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
    workdir = release.workdir
    assert serve_and_list(gateway_config, chart_env, workdir, want, *auth_args, token=token) == want


def upgrade(release: Release, values: dict[str, Any]) -> None:
    """Upgrade with changed values: applied, and the trial database keeps its password."""
    kubectl, namespace, full = release.kubectl, release.namespace, release.full

    def password() -> str:
        return str(
            kubectl(
                "get",
                "secret",
                f"{full}-postgres",
                "-n",
                namespace,
                "-o",
                "jsonpath={.data.password}",
            ).stdout
        )

    before = password()
    upgraded = {
        **values,
        "gateway": {"replicas": 3},
        "ui": {"enabled": True},
        "networkPolicy": {"enabled": False},
    }
    release.helm_run("upgrade", release.name, str(CHART), *set_args(upgraded))
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
    assert password() == before


def cluster_scope(release: Release) -> None:
    """Cluster scope: the operator account may do, everywhere, all that
    manifests/rbac/clusterrole.yaml grants (tests/operator proves that is enough for a
    cluster-wide operator), and peer; no Role of the release is left in the served namespaces."""
    kubectl, namespace, full = release.kubectl, release.namespace, release.full
    release.helm_run(
        "upgrade", release.name, str(CHART), "--reuse-values", "--set", "rbac.scope=cluster"
    )
    for ns in (release.target, release.other):
        assert not kubectl(
            "get",
            "roles,rolebindings",
            "-n",
            ns,
            "-l",
            f"app.kubernetes.io/instance={release.name}",
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
