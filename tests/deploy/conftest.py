"""Fixtures of the cluster tests of the chart, the manifests and the AgentPool policy: what they
install in the shared control plane, each removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.agentpool_policy import Kubectl, Policy, create_namespace, delete_namespaces
from tests.deploy.tools import CHART, documents, helm_template
from tests.kube_harness import run_kubectl

HERE = Path(__file__).parent


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


@pytest.fixture
def served(kubectl: Any, namespace: str) -> Iterator[list[str]]:
    """Two namespaces for the release to serve (``rbac.scope: namespaces``)."""
    names = [f"{namespace[:50]}-served", f"{namespace[:50]}-also"]
    for name in names:
        kubectl("create", "namespace", name)
    yield names
    for name in names:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def module_kubectl(control_plane: Any) -> Kubectl:
    """``kubectl`` for module-scoped fixtures (the ``kubectl`` fixture is per test)."""
    return partial(run_kubectl, control_plane)


@pytest.fixture(scope="module")
def policy(module_kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Policy]:
    """The chart's policy objects (default values, rbac.scope namespaces) of a release of its
    own: bound to one namespace of pools; a second namespace the release does not serve."""
    kubectl = module_kubectl
    release = f"p{uuid.uuid4().hex[:6]}"
    system, pools, other = f"{release}-system", f"{release}-pools", f"{release}-other"
    for name in (system, pools, other):
        create_namespace(kubectl, name)
    values = {"rbac": {"scope": "namespaces", "namespaces": [pools]}}
    rendered = helm_template(
        tmp_path_factory.mktemp("helm"), values, release=release, namespace=system
    ).stdout
    docs = [
        d
        for d in documents(rendered)
        if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "policy"
        and not d["metadata"]["name"].endswith("-tool-policy")  # (the operator's, not the API's)
    ]
    assert sorted(d["kind"] for d in docs) == [
        "ConfigMap",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    name = f"{release}-configurable-agents-agentpool-policy"
    params = next(d for d in docs if d["kind"] == "ConfigMap")
    cluster_scoped = yaml.safe_dump_all([d for d in docs if d["kind"] != "ConfigMap"])
    try:
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
        installed = Policy(kubectl, name, system, pools, other, params)
        installed.wait_enforced()
        yield installed
    finally:
        kubectl("delete", "--ignore-not-found", "-f", "-", stdin=cluster_scoped, check=False)
        delete_namespaces(kubectl, system, pools, other)
