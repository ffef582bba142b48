"""The chart and the kustomize overlays against the real control plane (kwok: no images pulled):
every rendered object passes the API server's strict validation, and the namespaced overlay's
gateway, applied for real, serves its namespaces only. (An installed release's lifecycle:
``test_chart_release_cluster``.)
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.deploy.chart_values import FULL
from tests.deploy.release_probes import (
    can_i,
    deployed_env,
    dry_run,
    mounted_policy,
    serve_and_list,
)
from tests.deploy.tools import CLUSTER_KINDS, MANIFESTS, binary, helm_template, kustomize, run
from tests.kube_harness import token_kubeconfig

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("extra_crds")]

GROUP = "configurable-agents.io"


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
def test_kustomize_overlays_are_accepted(kubectl: Any, overlay: str) -> None:
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
            return can_i(kubectl, account, GROUP, "workflows", "list", *where)

        assert all(may_list("-n", ns) for ns in served)
        assert not may_list("-n", namespace)
        assert not may_list("--all-namespaces")

        overlay_env = deployed_env(kubectl, namespace, f"{prefix}-gateway")
        assert overlay_env["CONFIGURABLE_AGENTS_NAMESPACES"] == ",".join(served)
        overlay_env = mounted_policy(kubectl, namespace, prefix, overlay_env, tmp_path)
        config = token_kubeconfig(control_plane, namespace, f"{prefix}-gateway", tmp_path / "gw")
        want = {(ns, "linear-chain") for ns in served}
        assert serve_and_list(config, overlay_env, tmp_path, want) == want
    finally:
        kubectl("delete", "--ignore-not-found", "-f", "-", stdin=cluster_scoped, check=False)
