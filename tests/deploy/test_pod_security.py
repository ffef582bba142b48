"""Pod Security on the real API server: every pod the chart, the kustomize overlays and the
operator's builders make is admitted in a namespace enforcing the ``restricted`` profile.

A Deployment is admitted whatever its template says (enforce applies to pods), so each pod
template is sent as a bare Pod, server-side with ``dryRun=All``: the API server runs every
admission plugin, PodSecurity included, and stores nothing. A privileged pod refused there
shows the admission is on. (tests/deploy/test_chart_cluster.py installs the chart into such a
namespace and tests/operator/test_pod_security.py has the operator make pools in one.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agents_operator.builders import build_children
from agents_operator.settings import OperatorSettings

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.agentpool import AgentPool
from tests.deploy.chart_values import FULL
from tests.deploy.tools import documents, helm_template, kustomize

pytestmark = pytest.mark.cluster

Obj = dict[str, Any]

#: Every optional feature that changes a pod: OIDC auth with its CA, dashboard sign-in in the
#: gateway pods, the policy ConfigMaps, budgets, pool egress, pull secrets and scheduling.
SECURED: Obj = {
    "store": {"existingSecret": "my-store"},
    "postgres": {"enabled": False},
    "imagePullSecrets": [{"name": "registry"}],
    "gateway": {
        "auth": {
            "mode": "kubernetes,oidc",
            "oidc": {
                "issuerUrl": "https://dex.example.com",
                "audience": "agents",
                "caConfigMap": "dex-ca",
            },
        },
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "agents", "operator": "Exists", "effect": "NoSchedule"}],
        "podAnnotations": {"example.com/team": "platform"},
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy.example.com:3128"}],
    },
    "ui": {
        "enabled": True,
        "mode": "sidecar",
        "signin": {
            "issuerUrl": "https://dex.example.com",
            "clientId": "agents",
            "externalUrl": "https://agents.example.com",
            "clientSecret": {"existingSecret": "dex-client"},
        },
    },
    "policy": {
        "agentPools": {"allowedImagePrefixes": ["registry.example.com/"]},
        "tools": {"allowedFunctions": ["tools.search:*"], "egressAllow": ["https://api.example/"]},
        "budgets": {"namespaces": {"*": {"tokensPerDay": 1000000}}},
    },
    "agents": {"egress": {"platformAllow": ["10.0.0.0/8:4317"]}},
    "operator": {"replicas": 2, "affinity": {"podAntiAffinity": {}}},
}
CHART_VALUES: dict[str, Obj] = {
    "default": {},
    "full": FULL,
    "secured": SECURED,
    "ui-deployment": {**SECURED, "ui": {**SECURED["ui"], "mode": "deployment"}},
}
#: The workloads each value set must render (so that none is skipped unseen).
CHART_WORKLOADS = {
    "default": {"Deployment/ca-operator", "Deployment/ca-gateway", "StatefulSet/ca-postgres"},
    "full": {"Deployment/ca-operator", "Deployment/ca-gateway", "Deployment/ca-ui"},
    "secured": {"Deployment/ca-operator", "Deployment/ca-gateway"},
    "ui-deployment": {"Deployment/ca-operator", "Deployment/ca-gateway", "Deployment/ca-ui"},
}


def pod_templates(docs: list[Obj]) -> dict[str, Obj]:
    """``KIND/NAME`` -> the Pod each workload would create (its template, with the volumes a
    StatefulSet adds from its claim templates)."""
    found: dict[str, Obj] = {}
    for doc in docs:
        spec = doc.get("spec") or {}
        if doc["kind"] == "CronJob":
            template = spec["jobTemplate"]["spec"]["template"]
        elif doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            template = spec["template"]
        elif doc["kind"] == "Pod":
            template = doc
        else:
            continue
        pod_spec = dict(template["spec"])
        claims = [
            {"name": c["metadata"]["name"], "persistentVolumeClaim": {"claimName": "x"}}
            for c in spec.get("volumeClaimTemplates", [])
        ]
        if claims:
            pod_spec["volumes"] = [*pod_spec.get("volumes", []), *claims]
        meta = template.get("metadata") or {}
        name = doc["metadata"]["name"]
        found[f"{doc['kind']}/{name}"] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name[:50]}-0",
                "labels": meta.get("labels", {}),
                "annotations": meta.get("annotations", {}),
            },
            "spec": pod_spec,
        }
    return found


def admit(kubectl: Any, namespace: str, pods: dict[str, Obj]) -> dict[str, str]:
    """What the API server says about each pod, created in ``namespace`` with dryRun=All: ""
    when admitted. The ServiceAccounts they name are made first (admission looks them up)."""
    accounts = {p["spec"].get("serviceAccountName") for p in pods.values()} - {None, "default"}
    for account in sorted(accounts):
        kubectl("create", "serviceaccount", account, "-n", namespace, check=False)
    refused: dict[str, str] = {}
    for what, pod in pods.items():
        proc = kubectl(
            "create",
            "--dry-run=server",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=json.dumps(pod),
            check=False,
        )
        text = proc.stderr.strip()
        if proc.returncode != 0 or "PodSecurity" in text:
            refused[what] = text or proc.stdout
        else:
            assert "created (server dry run)" in proc.stdout, proc.stdout
    return refused


def test_a_privileged_pod_is_refused(kubectl: Any, restricted: str) -> None:
    """The negative control: PodSecurity admission is on, so the tests below can fail."""
    refused = admit(kubectl, restricted, {"root": ROOT_POD})
    assert 'violates PodSecurity "restricted:latest"' in refused["root"], refused
    assert "privileged" in refused["root"], refused
    # The same pod with the restricted profile's settings is admitted: admit() tells them apart.
    compliant = json.loads(json.dumps(ROOT_POD))
    compliant["spec"]["securityContext"] = {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    compliant["spec"]["containers"][0]["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert admit(kubectl, restricted, {"root": compliant}) == {}


#: A pod as anyone might write it: root allowed, privileged, host network and a hostPath.
ROOT_POD: Obj = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "root"},
    "spec": {
        "containers": [
            {
                "name": "c",
                "image": "registry.example.com/app:1",
                "securityContext": {"privileged": True},
            }
        ],
    },
}


def render_chart(home: Path, values: Obj) -> list[Obj]:
    return documents(helm_template(home, values, release="ca", namespace="ns").stdout)


@pytest.mark.parametrize("values", sorted(CHART_VALUES))
def test_every_chart_pod_is_admitted_as_restricted(
    kubectl: Any, restricted: str, tmp_path: Path, values: str
) -> None:
    docs = render_chart(tmp_path, CHART_VALUES[values])
    pods = pod_templates(docs)
    names = {k.replace("ca-configurable-agents-", "ca-") for k in pods}
    assert names == CHART_WORKLOADS[values]
    assert admit(kubectl, restricted, pods) == {}


@pytest.mark.parametrize(
    "overlay", ["base", "overlays/dev", "overlays/production", "overlays/namespaced"]
)
def test_every_kustomize_pod_is_admitted_as_restricted(
    kubectl: Any, restricted: str, overlay: str
) -> None:
    pods = pod_templates(kustomize(overlay))
    assert {
        "Deployment/configurable-agents-operator",
        "Deployment/configurable-agents-gateway",
    } <= set(pods)
    assert admit(kubectl, restricted, pods) == {}


#: What the chart's values give the operator for agent pods (task authentication on).
SECURED_OPERATOR = OperatorSettings(
    task_callers=["system:serviceaccount:ca-system:ca-gateway"],
    gateway_namespace="ca-system",
    gateway_pod_labels={"app.kubernetes.io/component": "gateway"},
)
#: Every podTemplate field a pool may set (the AgentPool policy may narrow serviceAccountName).
OVERRIDES: Obj = {
    "labels": {"team": "research"},
    "annotations": {"example.com/owner": "research"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 1,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"team": "research"}},
                    },
                }
            ]
        }
    },
    "serviceAccountName": "research",
}


def pool(workload: str, overrides: bool) -> AgentPool:
    spec: Obj = {
        "capabilities": ["llm"],
        "workload": workload,
        "image": "registry.example.com/agents/custom:1",
        "env": [
            {"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "k"}}}
        ],
        "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "512Mi"}},
        "egress": [{"cidr": "203.0.113.0/24", "ports": [{"port": 443}]}],
    }
    if overrides:
        spec["podTemplate"] = OVERRIDES
    name = f"{workload.lower()}-{'custom' if overrides else 'plain'}"
    return AgentPool.model_validate(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": spec,
        }
    )


def test_every_agent_pod_is_admitted_as_restricted(kubectl: Any, restricted: str) -> None:
    pods: dict[str, Obj] = {}
    for settings_name, settings in (("open", OperatorSettings()), ("secured", SECURED_OPERATOR)):
        for workload in ("Deployment", "StatefulSet"):
            for overrides in (False, True):
                children = build_children(pool(workload, overrides), settings, ToolPolicy.cluster())
                for what, pod in pod_templates(children).items():
                    pods[f"{settings_name}:{what}"] = pod
    assert len(pods) == 8
    kinds = {what.split(":")[1].split("/")[0] for what in pods}
    assert kinds == {"Deployment", "StatefulSet"}
    # (the secured pods carry the projected task-token volume)
    assert any(
        v["name"] == "api-access"
        for v in pods["secured:Deployment/deployment-plain"]["spec"]["volumes"]
    )
    assert admit(kubectl, restricted, pods) == {}
