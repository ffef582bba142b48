"""manifests/ renders what the chart renders with equivalent values, on every object that matters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import kustomize, permissions, render

#: The example namespaces overlays/namespaced serves.
SERVED = ("team-a", "team-b")
#: overlay -> the chart values that install the same thing.
EQUIVALENT: dict[str, dict[str, Any]] = {
    "base": {
        "postgres": {"enabled": False},
        "store": {"existingSecret": "configurable-agents-store"},
        "ui": {"secret": {"existingSecret": "configurable-agents-ui-secret"}},
    },
    "overlays/dev": {
        "gateway": {"replicas": 1},
        "postgres": {"persistence": {"enabled": False}, "password": "devonlynotsecret"},
    },
    "overlays/production": {
        "postgres": {"enabled": False},
        "store": {"existingSecret": "configurable-agents-store"},
        "ui": {"secret": {"existingSecret": "configurable-agents-ui-secret"}},
        "operator": {"replicas": 2},
        "gateway": {"autoscaling": {"enabled": True}},
    },
    "overlays/namespaced": {
        "postgres": {"enabled": False},
        "store": {"existingSecret": "configurable-agents-store"},
        "ui": {"secret": {"existingSecret": "configurable-agents-ui-secret"}},
        "rbac": {"scope": "namespaces", "namespaces": list(SERVED)},
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
    if kind == "ConfigMap":
        return obj.get("data")
    if kind == "Secret":
        return {"keys": sorted(obj.get("data", obj.get("stringData", {})))}
    if kind in ("ServiceAccount", "ClusterKopfPeering", "KopfPeering"):
        return obj["metadata"].get("namespace")
    return obj.get("spec")


def keyed(docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(kind, namespace, name): a namespaced overlay has same-named objects in each namespace."""
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}


@pytest.mark.parametrize("overlay", list(EQUIVALENT))
def test_overlay_matches_the_chart(tmp_path: Path, overlay: str) -> None:
    ours = kustomize(overlay)
    chart = render(
        tmp_path,
        EQUIVALENT[overlay],
        release="configurable-agents",
        namespace="configurable-agents-system",
    )
    mine = {k: v for k, v in keyed(ours).items() if k[0] not in RBAC | KUSTOMIZE_ONLY}
    theirs = {k: v for k, v in keyed(chart).items() if k[0] not in RBAC}
    assert sorted(mine) == sorted(theirs)
    for key, obj in theirs.items():
        assert view(mine[key]) == view(obj), f"{overlay}: {'/'.join(key)} differs from the chart"
    # RBAC may be split differently; what each ServiceAccount may do must be the same.
    for account in ("configurable-agents-operator", "configurable-agents-gateway"):
        granted = permissions(ours, account)
        assert granted, account
        assert granted == permissions(chart, account), f"{overlay}: {account} permissions differ"
    assert {d["metadata"]["name"] for d in ours if d["kind"] == "CustomResourceDefinition"} >= {
        "agentpools.configurable-agents.io",
        "triggers.configurable-agents.io",
        "workflows.configurable-agents.io",
        "clusterkopfpeerings.kopf.dev",
    }


def test_namespaced_overlay_grants_nothing_cluster_wide_but_what_kopf_needs() -> None:
    """Beyond matching the chart: the accounts may act only in the served namespaces."""
    ours = kustomize("overlays/namespaced")
    gateway = permissions(ours, "configurable-agents-gateway")
    operator = permissions(ours, "configurable-agents-operator")
    # cluster-wide, the gateway may only ask TokenReviews and SubjectAccessReviews
    assert {(g, r, v) for scope, g, r, v in gateway if scope == "*"} == {
        ("authentication.k8s.io", "tokenreviews", "create"),
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
    }
    assert {scope for scope, *_ in gateway} == {*SERVED, "*"}
    assert {(g, r, v) for scope, g, r, v in gateway if scope != "*"} == {
        (group, resource, verb)
        for group, resource in (
            ("configurable-agents.io", "workflows"),
            ("configurable-agents.io", "triggers"),
            ("discovery.k8s.io", "endpointslices"),
        )
        for verb in ("list", "watch")
    } | {
        ("configurable-agents.io", "triggers/status", "patch"),
        ("", "secrets", "get"),  # the Secret a webhook Trigger names: its keys
        ("configurable-agents.io", "agentpools", "get"),  # the pool an external agent joins
    } | {
        ("coordination.k8s.io", "leases", verb)  # external agents' registrations
        for verb in ("get", "list", "watch", "create", "patch", "delete")
    }
    everywhere = {(g, r, v) for scope, g, r, v in operator if scope == "*"}
    assert everywhere == {
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        ("", "namespaces", "list"),
        ("", "namespaces", "watch"),
    }
    for namespace in SERVED:
        assert ("kopf.dev", "kopfpeerings", "patch") in {
            (g, r, v) for scope, g, r, v in operator if scope == namespace
        }
    assert not any(r == "clusterkopfpeerings" for _, _, r, _ in operator)
    kinds = {d["kind"] for d in ours}
    assert "ClusterKopfPeering" not in kinds
    # The operator watches, and the gateway serves, exactly those namespaces.
    deployments = {d["metadata"]["name"]: d for d in ours if d["kind"] == "Deployment"}
    operator_args = deployments["configurable-agents-operator"]["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert [a for a in operator_args if a.startswith("--namespace=")] == [
        f"--namespace={n}" for n in SERVED
    ]
    env = deployments["configurable-agents-gateway"]["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    assert {"name": "CONFIGURABLE_AGENTS_NAMESPACES", "value": ",".join(SERVED)} in env
