"""manifests/ renders what the chart renders with equivalent values, on every object that matters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import by_key, kustomize, permissions, render

#: overlay -> the chart values that install the same thing.
EQUIVALENT: dict[str, dict[str, Any]] = {
    "base": {
        "postgres": {"enabled": False},
        "store": {"existingSecret": "configurable-agents-store"},
    },
    "overlays/dev": {
        "gateway": {"replicas": 1},
        "postgres": {"persistence": {"enabled": False}, "password": "devonlynotsecret"},
    },
    "overlays/production": {
        "postgres": {"enabled": False},
        "store": {"existingSecret": "configurable-agents-store"},
        "operator": {"replicas": 2},
        "gateway": {"autoscaling": {"enabled": True}},
    },
}
RBAC = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
#: Only in the kustomize output: the namespace (Helm's --create-namespace makes it) and the CRDs
#: (the chart's crds/ folder, checked identical by test_chart_render).
KUSTOMIZE_ONLY = {"Namespace", "CustomResourceDefinition"}


def workload_view(obj: dict[str, Any]) -> dict[str, Any]:
    """What matters of a workload: replicas, images, args, env, ports, probes, security, volumes."""
    spec = obj["spec"]
    pod = spec["template"]["spec"]
    return {
        "replicas": spec.get("replicas"),
        "selector": spec["selector"],
        "labels": {
            k: v
            for k, v in spec["template"]["metadata"]["labels"].items()
            if k.startswith("app.kubernetes.io/") and k not in ("app.kubernetes.io/managed-by",)
        },
        "serviceAccountName": pod.get("serviceAccountName"),
        "securityContext": pod["securityContext"],
        "volumes": pod.get("volumes"),
        "containers": [
            {
                k: c.get(k)
                for k in (
                    "name",
                    "image",
                    "args",
                    "env",
                    "ports",
                    "securityContext",
                    "volumeMounts",
                    "readinessProbe",
                    "livenessProbe",
                    "resources",
                )
            }
            for c in pod["containers"]
        ],
    }


def view(obj: dict[str, Any]) -> Any:
    kind = obj["kind"]
    if kind in ("Deployment", "StatefulSet"):
        return workload_view(obj)
    if kind == "Secret":
        return {"keys": sorted(obj.get("data", obj.get("stringData", {})))}
    if kind in ("ServiceAccount", "ClusterKopfPeering"):
        return obj["metadata"].get("namespace")
    return obj.get("spec")


@pytest.mark.parametrize("overlay", list(EQUIVALENT))
def test_overlay_matches_the_chart(tmp_path: Path, overlay: str) -> None:
    ours = kustomize(overlay)
    chart = render(
        tmp_path,
        EQUIVALENT[overlay],
        release="configurable-agents",
        namespace="configurable-agents-system",
    )
    mine = {k: v for k, v in by_key(ours).items() if k[0] not in RBAC | KUSTOMIZE_ONLY}
    theirs = {k: v for k, v in by_key(chart).items() if k[0] not in RBAC}
    assert sorted(mine) == sorted(theirs)
    for key, obj in theirs.items():
        assert view(mine[key]) == view(obj), f"{overlay}: {key[0]}/{key[1]} differs from the chart"
        assert mine[key]["metadata"].get("namespace") == obj["metadata"].get("namespace"), key
    # RBAC may be split differently; what each ServiceAccount may do must be the same.
    for account in ("configurable-agents-operator", "configurable-agents-gateway"):
        granted = permissions(ours, account)
        assert granted, account
        assert granted == permissions(chart, account), f"{overlay}: {account} permissions differ"
    assert {d["metadata"]["name"] for d in ours if d["kind"] == "CustomResourceDefinition"} >= {
        "agentpools.configurable-agents.io",
        "workflows.configurable-agents.io",
        "clusterkopfpeerings.kopf.dev",
    }
