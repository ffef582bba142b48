"""The Helm chart renders what it promises, for default and non-default values (no cluster)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.deploy.chart_values import FULL, agent_ingress_env, kinds
from tests.deploy.tools import (
    CHART,
    MANIFESTS,
    binary,
    by_key,
    helm_env,
    permissions,
    render,
    run,
)


def test_helm_lint_default_and_full_values(tmp_path: Path) -> None:
    values = tmp_path / "full.yaml"
    values.write_text(yaml.safe_dump(FULL))
    env = helm_env(tmp_path)
    for extra in ([], ["-f", str(values)]):
        out = run([binary("helm"), "lint", "--strict", str(CHART), *extra], env=env)
        assert "0 chart(s) failed" in out.stdout


def test_default_values_render_operator_gateway_and_trial_postgres(tmp_path: Path) -> None:
    docs = render(tmp_path)
    objects = by_key(docs)
    assert {
        ("Deployment", "ca-configurable-agents-operator"),
        ("Deployment", "ca-configurable-agents-gateway"),
        ("Service", "ca-configurable-agents-gateway"),
        ("StatefulSet", "ca-configurable-agents-postgres"),
        ("Secret", "ca-configurable-agents-store"),
        ("ClusterKopfPeering", "ca-configurable-agents"),
        ("ClusterRoleBinding", "ca-configurable-agents-operator"),
    } <= set(objects)
    assert not kinds(docs) & {"Ingress", "HTTPRoute", "ServiceMonitor", "HorizontalPodAutoscaler"}
    # The store URL points at the trial Postgres, with the password of its own Secret.
    store = objects[("Secret", "ca-configurable-agents-store")]["data"]["url"]
    password = objects[("Secret", "ca-configurable-agents-postgres")]["data"]["password"]
    url = base64.b64decode(store).decode()
    assert url == (
        f"postgresql://configurable_agents:{base64.b64decode(password).decode()}"
        "@ca-configurable-agents-postgres:5432/configurable_agents"
    )
    gateway = objects[("Deployment", "ca-configurable-agents-gateway")]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in gateway["containers"][0]["env"]}
    assert env["CONFIGURABLE_AGENTS_STORE"]["valueFrom"]["secretKeyRef"] == {
        "name": "ca-configurable-agents-store",
        "key": "url",
    }
    assert "--kubernetes" in gateway["containers"][0]["args"]
    # authentication is on by default; the gateway may ask TokenReviews and RBAC, nothing more
    assert "--auth=kubernetes" in gateway["containers"][0]["args"]
    auth_role = objects[("ClusterRole", "ca-configurable-agents-gateway-auth")]
    assert {(r["resources"][0], tuple(r["verbs"])) for r in auth_role["rules"]} == {
        ("tokenreviews", ("create",)),
        ("subjectaccessreviews", ("create",)),
    }
    viewer = objects[("ClusterRole", "configurable-agents-run-viewer")]
    runner = objects[("ClusterRole", "configurable-agents-runner")]
    assert viewer["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert runner["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert "aggregate-to-view" not in str(runner["metadata"]["labels"])
    assert runner["rules"][0]["verbs"] == ["get", "list", "create", "update"]
    assert "CONFIGURABLE_AGENTS_NAMESPACES" not in env, "cluster scope: one cluster-wide watch"
    assert ("ClusterRoleBinding", "ca-configurable-agents-gateway") in objects
    operator = objects[("Deployment", "ca-configurable-agents-operator")]["spec"]["template"]
    op_env = {e["name"]: e.get("value") for e in operator["spec"]["containers"][0]["env"]}
    assert op_env["CONFIGURABLE_AGENTS_OPERATOR_PEERING"] == "ca-configurable-agents"
    assert op_env["CONFIGURABLE_AGENTS_OPERATOR_AGENT_IMAGE"] == (
        "ghcr.io/configurable-agents/agent:0.1.0"
    )


def test_full_values_render_every_optional_object(tmp_path: Path) -> None:
    docs = render(tmp_path, FULL)
    objects = by_key(docs)
    assert {
        "HorizontalPodAutoscaler",
        "Ingress",
        "HTTPRoute",
        "ServiceMonitor",
        "PrometheusRule",
        "ConfigMap",
        "KopfPeering",
        "RoleBinding",
    } <= kinds(docs)
    assert "StatefulSet" not in kinds(docs)
    assert "Secret" not in kinds(docs), "the user's store Secret is used, none is rendered"
    assert "ClusterKopfPeering" not in kinds(docs)
    # Namespaced scope: the operator and gateway roles are bound only in the listed namespaces;
    # cluster-wide only what kopf needs and the gateway's TokenReview/SubjectAccessReview.
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    cluster_wide = {d["roleRef"]["name"] for d in bindings if d["kind"] == "ClusterRoleBinding"}
    assert cluster_wide == {
        "ca-configurable-agents-operator-crds",
        "ca-configurable-agents-gateway-auth",
    }
    assert {
        (d["metadata"]["namespace"], d["roleRef"]["kind"], d["roleRef"]["name"])
        for d in bindings
        if d["kind"] == "RoleBinding"
    } == {
        (ns, kind, f"ca-configurable-agents-{who}")
        for ns in ("demo", "team-b")
        for kind, who in (("ClusterRole", "operator"), ("Role", "gateway"))
    } | {
        # where the API server is, for the pools' egress policies (test_agent_egress_render)
        ("default", "Role", "ca-configurable-agents-operator-api-server")
    }
    # The gateway reads Workflows, Triggers and EndpointSlices in those namespaces, gets the
    # Secrets webhook Triggers name (their keys) and writes Triggers' status; cluster-wide it
    # may only ask who a token is and what RBAC allows them.
    assert permissions(docs, "ca-configurable-agents-gateway") == {
        (ns, group, resource, verb)
        for ns in ("demo", "team-b")
        for group, resource in (
            ("configurable-agents.io", "workflows"),
            ("configurable-agents.io", "triggers"),
            ("discovery.k8s.io", "endpointslices"),
        )
        for verb in ("list", "watch")
    } | {
        (ns, "configurable-agents.io", "triggers/status", "patch") for ns in ("demo", "team-b")
    } | {(ns, "", "secrets", "get") for ns in ("demo", "team-b")} | {
        # agents outside the cluster: their member Leases, and the AgentPool they join
        (ns, "coordination.k8s.io", "leases", verb)
        for ns in ("demo", "team-b")
        for verb in ("get", "list", "watch", "create", "patch", "delete")
    } | {(ns, "configurable-agents.io", "agentpools", "get") for ns in ("demo", "team-b")} | {
        ("*", "authentication.k8s.io", "tokenreviews", "create"),
        ("*", "authorization.k8s.io", "subjectaccessreviews", "create"),
    }
    assert ("ClusterRole", "ca-configurable-agents-gateway") not in objects
    peerings = [d for d in docs if d["kind"] == "KopfPeering"]
    assert sorted(d["metadata"]["namespace"] for d in peerings) == ["demo", "team-b"]
    # Agent pods take tasks only from the gateway pods: through the operator's NetworkPolicy per
    # AgentPool (every scope), not one of the chart's in each served namespace.
    assert not [
        d
        for d in docs
        if d["metadata"].get("namespace") in ("demo", "team-b") and d["kind"] == "NetworkPolicy"
    ]
    assert agent_ingress_env(docs)["CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_NAMESPACE"] == "ca-system"
    gateway = objects[("Deployment", "ca-configurable-agents-gateway")]["spec"]
    assert "replicas" not in gateway, "the HPA owns the gateway's replicas"
    container = gateway["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["CONFIGURABLE_AGENTS_NAMESPACES"]["value"] == "demo,team-b"
    store = env["CONFIGURABLE_AGENTS_STORE"]
    assert store["valueFrom"]["secretKeyRef"] == {"name": "my-store", "key": "dsn"}
    operator = objects[("Deployment", "ca-configurable-agents-operator")]["spec"]
    assert operator["replicas"] == 2
    args = operator["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=demo" in args and "--namespace=team-b" in args
    ui = objects[("Deployment", "ca-configurable-agents-ui")]["spec"]["template"]["spec"]
    assert ui["containers"][0]["args"] == [
        "ui",
        "--gateway",
        "http://ca-configurable-agents-gateway:80",
        "--host",
        "0.0.0.0",
        "--port",
        "8081",
    ]
    ingress = objects[("Ingress", "ca-configurable-agents-gateway")]["spec"]["rules"]
    assert [r["host"] for r in ingress] == ["api.example.com", "ui.example.com"]
    assert {("HTTPRoute", "ca-configurable-agents-ui")} <= set(objects)
    dashboard = objects[("ConfigMap", "ca-configurable-agents-dashboard")]
    assert json.loads(dashboard["data"]["configurable-agents.json"]) == json.loads(
        (CHART / "files" / "grafana-dashboard.json").read_text()
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    rules = objects[("PrometheusRule", "ca-configurable-agents")]["spec"]["groups"]
    assert (
        rules == yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())["groups"]
    )


def test_ui_sidecar_talks_to_the_gateway_on_localhost(tmp_path: Path) -> None:
    docs = render(tmp_path, {"ui": {"enabled": True}})
    gateway = by_key(docs)[("Deployment", "ca-configurable-agents-gateway")]["spec"]["template"]
    ui = next(c for c in gateway["spec"]["containers"] if c["name"] == "ui")
    assert ui["args"][:3] == ["ui", "--gateway", "http://127.0.0.1:8080"]
    assert (
        by_key(docs)[("Service", "ca-configurable-agents-ui")]["spec"]["selector"][
            "configurable-agents.io/ui"
        ]
        == "true"
    )
    assert gateway["metadata"]["labels"]["configurable-agents.io/ui"] == "true"


@pytest.mark.parametrize("copy", ["helm/configurable-agents/crds", "manifests/crds"])
def test_crd_copies_are_identical_to_crds(copy: str) -> None:
    originals = sorted((REPO / "crds").glob("*.yaml"))
    assert originals
    for original in originals:
        copied = REPO / copy / original.name
        assert copied.exists(), f"{copy}/{original.name} is missing: run `make crds`"
        assert copied.read_bytes() == original.read_bytes(), (
            f"{copy}/{original.name} is stale: run `make crds`"
        )
    peering = "kopf-peering.yaml"
    assert (CHART / "crds" / peering).read_bytes() == (MANIFESTS / "crds" / peering).read_bytes()
    extra = {p.name for p in (REPO / copy).glob("*.yaml")} - {p.name for p in originals}
    assert extra <= {peering, "kustomization.yaml"}
