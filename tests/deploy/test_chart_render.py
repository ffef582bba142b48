"""The Helm chart renders what it promises, for default and non-default values (no cluster)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.deploy.tools import (
    CHART,
    MANIFESTS,
    binary,
    by_key,
    helm_env,
    helm_template,
    permissions,
    pod_specs,
    render,
    run,
)

#: Everything optional switched on, namespaced RBAC, a user-managed store Secret.
FULL: dict[str, Any] = {
    "store": {"existingSecret": "my-store", "existingSecretKey": "dsn"},
    "postgres": {"enabled": False},
    "rbac": {"scope": "namespaces", "namespaces": ["demo", "team-b"]},
    "operator": {"replicas": 2, "peering": {"name": "agents"}},
    "gateway": {"autoscaling": {"enabled": True, "maxReplicas": 5}},
    "ui": {"enabled": True, "mode": "deployment", "secret": {"existingSecret": "my-ui"}},
    "ingress": {"enabled": True, "host": "api.example.com", "uiHost": "ui.example.com"},
    "httpRoute": {
        "enabled": True,
        "parentRefs": [{"name": "public", "namespace": "gateway-system"}],
        "hostnames": ["api.example.com"],
        "uiHostnames": ["ui.example.com"],
    },
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
}


def kinds(docs: list[dict[str, Any]]) -> set[str]:
    return {d["kind"] for d in docs}


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
    # The gateway reads Workflows and EndpointSlices in those namespaces; cluster-wide it may only
    # ask who a token is and what RBAC allows them.
    assert permissions(docs, "ca-configurable-agents-gateway") == {
        (ns, group, resource, verb)
        for ns in ("demo", "team-b")
        for group, resource in (
            ("configurable-agents.io", "workflows"),
            ("discovery.k8s.io", "endpointslices"),
        )
        for verb in ("list", "watch")
    } | {
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


def deployment(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    spec: dict[str, Any] = by_key(docs)[("Deployment", f"ca-configurable-agents-{component}")][
        "spec"
    ]["template"]
    return spec


def agent_ingress_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The operator's settings for who may reach agent pods (task auth, NetworkPolicy)."""
    env = deployment(docs, "operator")["spec"]["containers"][0]["env"]
    names = ("TASK_", "GATEWAY_", "AGENTS_FROM")
    return {
        e["name"]: e["value"]
        for e in env
        if e["name"].removeprefix("CONFIGURABLE_AGENTS_OPERATOR_").startswith(names)
    }


def test_agents_take_tasks_only_from_the_gateway_by_default(tmp_path: Path) -> None:
    docs = render(tmp_path)
    gateway = deployment(docs, "gateway")
    account = gateway["spec"]["serviceAccountName"]
    env = agent_ingress_env(docs)
    assert env == {
        "CONFIGURABLE_AGENTS_OPERATOR_TASK_CALLERS": f"system:serviceaccount:ca-system:{account}",
        "CONFIGURABLE_AGENTS_OPERATOR_TASK_ISSUER": "https://kubernetes.default.svc.cluster.local",
        "CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_NAMESPACE": "ca-system",
        "CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_POD_LABELS": env[
            "CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_POD_LABELS"
        ],
        "CONFIGURABLE_AGENTS_OPERATOR_AGENTS_FROM": "[]",
    }
    # The labels the pools' NetworkPolicies admit are the gateway pods' own.
    labels = json.loads(env["CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_POD_LABELS"])
    assert labels["app.kubernetes.io/component"] == "gateway"
    assert labels.items() <= gateway["metadata"]["labels"].items()
    # The gateway sends a projected token for the agents' audience, from a read-only mount.
    container = gateway["spec"]["containers"][0]
    token_file = next(
        e["value"] for e in container["env"] if e["name"] == "CONFIGURABLE_AGENTS_TASK_TOKEN_FILE"
    )
    mount = next(m for m in container["volumeMounts"] if token_file.startswith(m["mountPath"]))
    assert mount["readOnly"] is True
    volume = next(v for v in gateway["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "audience": "configurable-agents-agent",
                "expirationSeconds": 3600,
                "path": token_file.removeprefix(mount["mountPath"] + "/"),
            }
        }
    ]


def test_agent_ingress_settings_follow_the_values(tmp_path: Path) -> None:
    prometheus = [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF"
    env = agent_ingress_env(
        render(
            tmp_path,
            {
                "agents": {"taskAuth": {"issuer": issuer}},
                "networkPolicy": {"agentsFrom": prometheus},
            },
        )
    )
    assert env["CONFIGURABLE_AGENTS_OPERATOR_TASK_ISSUER"] == issuer
    assert json.loads(env["CONFIGURABLE_AGENTS_OPERATOR_AGENTS_FROM"]) == prometheus
    # Without NetworkPolicies, the operator writes none for the pools either.
    env = agent_ingress_env(render(tmp_path, {"networkPolicy": {"enabled": False}}))
    assert set(env) == {
        "CONFIGURABLE_AGENTS_OPERATOR_TASK_CALLERS",
        "CONFIGURABLE_AGENTS_OPERATOR_TASK_ISSUER",
    }


def test_task_auth_off_renders_none_of_it(tmp_path: Path) -> None:
    docs = render(tmp_path, {"agents": {"taskAuth": {"enabled": False}}})
    assert not any(
        k.startswith("CONFIGURABLE_AGENTS_OPERATOR_TASK_") for k in agent_ingress_env(docs)
    )
    gateway = deployment(docs, "gateway")["spec"]
    container = gateway["containers"][0]
    assert not [e for e in container["env"] if e["name"].startswith("CONFIGURABLE_AGENTS_TASK_")]
    # (the tool policy is mounted whatever taskAuth says)
    assert [v["name"] for v in gateway["volumes"]] == ["tmp", "tool-policy"]
    assert [m["name"] for m in container["volumeMounts"]] == ["tmp", "tool-policy"]


@pytest.mark.parametrize("values", [{}, FULL], ids=["default", "full"])
def test_every_pod_meets_the_restricted_profile(tmp_path: Path, values: dict[str, Any]) -> None:
    specs = pod_specs(render(tmp_path, values))
    assert specs
    for where, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, f"{where}/{container['name']}: no /tmp"


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"rbac": {"scope": "everywhere"}}, "/rbac/scope"),
        ({"rbac": {"scope": "namespaces"}}, "/rbac/namespaces"),
        ({"rbac": {"namespaces": ["Not_A_Name"]}}, "/rbac/namespaces/0"),
        ({"gateway": {"replicas": -1}}, "/gateway/replicas"),
        ({"gateway": {"concurrency": "lots"}}, "/gateway/concurrency"),
        ({"operator": {"image": {"pullPolicy": "Sometimes"}}}, "/operator/image/pullPolicy"),
        ({"ui": {"mode": "popup"}}, "/ui/mode"),
        ({"postgres": {"password": "p@ss:word"}}, "/postgres/password"),
        ({"store": {"url": "mysql://db/runs"}}, "/store/url"),
        ({"serviceMonitor": {"interval": "30 seconds"}}, "/serviceMonitor/interval"),
        ({"httpRoute": {"enabled": True}}, "/httpRoute/parentRefs"),
        ({"gatway": {"replicas": 3}}, "'gatway' not allowed"),
        ({"operator": {"replicas": 2, "peering": {"enabled": False}}}, "/operator/replicas"),
        ({"gateway": {"auth": {"mode": "ldap"}}}, "/gateway/auth/mode"),
        (
            {"gateway": {"auth": {"oidc": {"issuerUrl": "http://idp.example"}}}},
            "/gateway/auth/oidc/issuerUrl",
        ),
        ({"agents": {"taskAuth": {"enabled": "yes"}}}, "/agents/taskAuth/enabled"),
        (
            {"agents": {"taskAuth": {"issuer": "kubernetes.default.svc"}}},
            "/agents/taskAuth/issuer",
        ),
        ({"agents": {"taskAuth": {"issuers": ["x"]}}}, "'issuers' not allowed"),
        ({"networkPolicy": {"agentsFrom": ["prometheus"]}}, "/networkPolicy/agentsFrom/0"),
    ],
)
def test_schema_rejects_bad_values_naming_them(
    tmp_path: Path, values: dict[str, Any], names: str
) -> None:
    proc = helm_template(tmp_path, values, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert names in proc.stderr, proc.stderr
    assert "panic" not in proc.stderr and "goroutine" not in proc.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"postgres": {"enabled": False}}, "store: set store.url or store.existingSecret"),
        ({"gateway": {"auth": {"mode": "oidc"}}}, "gateway.auth.oidc: mode oidc needs issuerUrl"),
    ],
)
def test_settings_that_cannot_work_fail_with_a_clear_message(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    proc = helm_template(tmp_path, values, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_store_url_is_kept_in_a_secret(tmp_path: Path) -> None:
    url = "s3://runs/prod?table=runs&region=eu-west-1"
    docs = render(tmp_path, {"store": {"url": url}})
    objects = by_key(docs)
    assert (
        base64.b64decode(
            objects[("Secret", "ca-configurable-agents-store")]["data"]["url"]
        ).decode()
        == url
    )
    assert "StatefulSet" not in kinds(docs), "an explicit store URL replaces the trial Postgres"
    assert url not in json.dumps([d for d in docs if d["kind"] != "Secret"])


@pytest.mark.parametrize("mode", ["sidecar", "deployment"])
def test_gateway_and_dashboard_sign_forms_with_one_key(tmp_path: Path, mode: str) -> None:
    """Replicas of the gateway (which embeds the dashboard) and of the UI must accept each
    other's forms: one key from one Secret, made by the chart unless the user names theirs."""
    docs = render(tmp_path, {"ui": {"enabled": True, "mode": mode}})
    objects = by_key(docs)
    secret = objects[("Secret", "ca-configurable-agents-ui-secret")]
    assert len(base64.b64decode(secret["data"]["secret"])) >= 32
    refs = [
        env["valueFrom"]["secretKeyRef"]
        for doc in docs
        if doc["kind"] == "Deployment"
        for c in doc["spec"]["template"]["spec"]["containers"]
        if c["name"] in ("gateway", "ui")
        for env in c.get("env", [])
        if env["name"] == "CONFIGURABLE_AGENTS_UI_SECRET"
    ]
    assert refs == [{"name": "ca-configurable-agents-ui-secret", "key": "secret"}] * 2
    own = render(tmp_path, {"ui": {"secret": {"existingSecret": "mine", "key": "k"}}})
    assert not any(
        d["kind"] == "Secret" and d["metadata"]["name"].endswith("ui-secret") for d in own
    )
    gateway = by_key(own)[("Deployment", "ca-configurable-agents-gateway")]
    env = gateway["spec"]["template"]["spec"]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "CONFIGURABLE_AGENTS_UI_SECRET")
    assert ref["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "k"}


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


def test_oidc_and_insecure_modes_render_the_gateway_flags(tmp_path: Path) -> None:
    oidc = {
        "mode": "kubernetes,oidc",
        "audiences": ["configurable-agents"],
        "oidc": {
            "issuerUrl": "https://dex.example.com",
            "audience": "gateway",
            "usernameClaim": "email",
            "groupsPrefix": "oidc:",
            "caConfigMap": "dex-ca",
        },
    }
    objects = by_key(render(tmp_path, {"gateway": {"auth": oidc}}))
    pod = objects[("Deployment", "ca-configurable-agents-gateway")]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert {
        "--auth=kubernetes,oidc",
        "--auth-audience=configurable-agents",
        "--oidc-issuer-url=https://dex.example.com",
        "--oidc-audience=gateway",
        "--oidc-username-claim=email",
        "--oidc-groups-prefix=oidc:",
        "--oidc-ca-file=/etc/configurable-agents/oidc/ca.crt",
    } <= set(args)
    assert {"name": "oidc-ca", "configMap": {"name": "dex-ca"}} in pod["volumes"]

    insecure = by_key(render(tmp_path, {"gateway": {"auth": {"insecureNoAuth": True}}}))
    pod = insecure[("Deployment", "ca-configurable-agents-gateway")]["spec"]["template"]["spec"]
    assert "--insecure-no-auth" in pod["containers"][0]["args"]
    assert not any(a.startswith("--auth") for a in pod["containers"][0]["args"])
    assert ("ClusterRole", "ca-configurable-agents-gateway-auth") not in insecure


def test_dashboard_sign_in_settings_reach_every_pod_serving_it(tmp_path: Path) -> None:
    signin = {
        "issuerUrl": "https://dex.example.com",
        "clientId": "dashboard",
        "externalUrl": "https://agents.example.com",
        "clientSecret": {"existingSecret": "dashboard-oidc"},
    }
    for mode in ("sidecar", "deployment"):
        docs = render(tmp_path, {"ui": {"enabled": True, "mode": mode, "signin": signin}})
        serving = [
            c
            for _, spec in pod_specs(docs)
            for c in spec["containers"]
            if c["name"] in ("gateway", "ui")
        ]
        assert {c["name"] for c in serving} == {"gateway", "ui"}, mode
        for container in serving:
            env = {e["name"]: e for e in container.get("env", [])}
            assert env["CONFIGURABLE_AGENTS_UI_OIDC_ISSUER_URL"]["value"] == signin["issuerUrl"]
            assert env["CONFIGURABLE_AGENTS_UI_EXTERNAL_URL"]["value"] == signin["externalUrl"]
            secret = env["CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET"]["valueFrom"]
            assert secret == {"secretKeyRef": {"name": "dashboard-oidc", "key": "client-secret"}}
    half = helm_template(
        tmp_path, {"ui": {"signin": {"issuerUrl": "https://dex.example.com"}}}, check=False
    )
    assert half.returncode != 0 and "ui.signin: issuerUrl needs clientId" in half.stderr
    plain = helm_template(
        tmp_path, {"ui": {"signin": {"issuerUrl": "http://dex.example.com"}}}, check=False
    )
    assert plain.returncode != 0 and "/ui/signin/issuerUrl" in plain.stderr
