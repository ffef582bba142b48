"""The gateway's own ServiceAccount in a test's namespace, bound only to the Role the manifests
give the gateway in a served namespace: tests that act as it prove that Role enough."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from tests.conftest import REPO


def gateway_role(namespace: str) -> str:
    """The manifests' gateway Role in ``namespace``, bound to the ServiceAccount ``gateway``."""
    docs = yaml.safe_load_all(
        (REPO / "manifests" / "components" / "namespaced" / "served" / "rbac.yaml").read_text()
    )
    [role] = [d for d in docs if d["kind"] == "Role"]
    role["metadata"] = {"name": "gateway", "namespace": namespace}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "gateway", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gateway"},
        "subjects": [{"kind": "ServiceAccount", "name": "gateway", "namespace": namespace}],
    }
    return yaml.safe_dump_all([role, binding])


def bind_gateway(kubectl: Callable[..., Any], namespace: str) -> None:
    """Create the ServiceAccount ``gateway`` and bind it to the manifests' Role."""
    kubectl("create", "serviceaccount", "gateway", "-n", namespace)
    kubectl("apply", "-f", "-", stdin=gateway_role(namespace))
