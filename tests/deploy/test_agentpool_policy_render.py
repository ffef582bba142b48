"""The chart's AgentPool admission policy (policy.agentPools) as rendered (no cluster): the
ValidatingAdmissionPolicy, its binding and the parameter ConfigMap follow the values, and the
schema refuses values that could not work. tests/deploy/test_agentpool_policy_cluster.py runs it
in the API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import by_key, helm_template, render

NAME = "ca-configurable-agents-agentpool-policy"
POLICY_KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
PARAMETERS = {
    "allowedImagePrefixes",
    "requireImageDigest",
    "allowedServiceAccounts",
    "requiredResourceLimits",
}


def policy_objects(values: dict[str, Any], tmp_path: Path) -> dict[tuple[str, str], Any]:
    return {
        key: obj
        for key, obj in by_key(render(tmp_path, values)).items()
        if key[0] in POLICY_KINDS or key == ("ConfigMap", NAME)
    }


def test_default_policy_allows_the_chart_agent_image_and_requires_a_memory_limit(
    tmp_path: Path,
) -> None:
    objects = policy_objects({}, tmp_path)
    assert set(objects) == {
        ("ValidatingAdmissionPolicy", NAME),
        ("ValidatingAdmissionPolicyBinding", NAME),
        ("ConfigMap", NAME),
    }
    params = objects[("ConfigMap", NAME)]
    assert params["metadata"]["namespace"] == "ca-system"
    assert params["data"] == {
        "allowedImagePrefixes": "ghcr.io/configurable-agents/agent",
        "requireImageDigest": "false",
        "allowedServiceAccounts": "",
        "requiredResourceLimits": "memory",
    }
    policy = objects[("ValidatingAdmissionPolicy", NAME)]["spec"]
    assert policy["failurePolicy"] == "Fail"
    assert policy["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert policy["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": ["configurable-agents.io"],
            "apiVersions": ["v1alpha1"],  # the CRD's version: type-checked
            "operations": ["CREATE", "UPDATE"],
            "resources": ["agentpools"],  # not agentpools/status nor /scale: kopf, HPA go on
        }
    ]
    # Every refusal names its field first, then the parameter it comes from; every parameter
    # is used by some rule.
    validations = policy["validations"]
    for rule in validations:
        assert rule["message"].startswith("spec."), rule
        assert rule["messageExpression"].startswith("'spec."), rule
        assert rule["reason"] == "Forbidden"
    said = " ".join(r["messageExpression"] for r in validations)
    assert all(p in said for p in PARAMETERS - {"requireImageDigest"})
    assert "requireImageDigest" in said
    binding = objects[("ValidatingAdmissionPolicyBinding", NAME)]["spec"]
    assert binding == {
        "policyName": NAME,
        "validationActions": ["Deny"],
        "paramRef": {"name": NAME, "namespace": "ca-system", "parameterNotFoundAction": "Deny"},
    }, "cluster scope: every namespace"


def test_values_reach_the_parameters(tmp_path: Path) -> None:
    values = {
        "agent": {"image": {"repository": "mirror.example.com/agents/agent"}},
        "policy": {
            "agentPools": {
                "validationActions": ["Warn", "Audit"],
                "allowedImagePrefixes": ["registry.example.com/team/", "ghcr.io/acme/agent"],
                "requireImageDigest": True,
                "allowedServiceAccounts": ["builder", "reader"],
                "requiredResourceLimits": ["cpu", "memory", "nvidia.com/gpu"],
            }
        },
    }
    objects = policy_objects(values, tmp_path)
    assert objects[("ConfigMap", NAME)]["data"] == {
        "allowedImagePrefixes": (
            "mirror.example.com/agents/agent,registry.example.com/team/,ghcr.io/acme/agent"
        ),
        "requireImageDigest": "true",
        "allowedServiceAccounts": "builder,reader",
        "requiredResourceLimits": "cpu,memory,nvidia.com/gpu",
    }
    binding = objects[("ValidatingAdmissionPolicyBinding", NAME)]["spec"]
    assert binding["validationActions"] == ["Warn", "Audit"]
    # The chart's own agent repository, listed again, is listed once.
    again = {
        "policy": {"agentPools": {"allowedImagePrefixes": ["ghcr.io/configurable-agents/agent"]}}
    }
    data = policy_objects(again, tmp_path)[("ConfigMap", NAME)]["data"]
    assert data["allowedImagePrefixes"] == "ghcr.io/configurable-agents/agent"


def test_namespaces_scope_binds_the_served_namespaces_only(tmp_path: Path) -> None:
    values = {"rbac": {"scope": "namespaces", "namespaces": ["team-a", "team-b"]}}
    binding = policy_objects(values, tmp_path)[("ValidatingAdmissionPolicyBinding", NAME)]
    assert binding["spec"]["matchResources"] == {
        "namespaceSelector": {
            "matchExpressions": [
                {
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": ["team-a", "team-b"],
                }
            ]
        }
    }


def test_an_existing_config_map_replaces_the_charts(tmp_path: Path) -> None:
    values = {"policy": {"agentPools": {"existingConfigMap": "platform-agentpool-policy"}}}
    objects = policy_objects(values, tmp_path)
    assert ("ConfigMap", NAME) not in objects
    binding = objects[("ValidatingAdmissionPolicyBinding", NAME)]["spec"]
    assert binding["paramRef"]["name"] == "platform-agentpool-policy"
    assert binding["paramRef"]["namespace"] == "ca-system"


def test_disabled_renders_none_of_it(tmp_path: Path) -> None:
    assert not policy_objects({"policy": {"agentPools": {"enabled": False}}}, tmp_path)


def test_long_release_names_keep_object_names_valid(tmp_path: Path) -> None:
    objects = policy_objects({"fullnameOverride": "x" * 63}, tmp_path)
    names = {name for _, name in objects}
    assert names == {"x" * 46 + "-agentpool-policy"}


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"validationActions": ["Deny", "Warn"]}, "/policy/agentPools/validationActions"),
        ({"validationActions": ["Block"]}, "/policy/agentPools/validationActions/0"),
        ({"validationActions": []}, "/policy/agentPools/validationActions"),
        ({"allowedImagePrefixes": ["ghcr.io/a, ghcr.io/b"]}, "/allowedImagePrefixes/0"),
        ({"allowedImagePrefixes": "ghcr.io/a"}, "/policy/agentPools/allowedImagePrefixes"),
        ({"requireImageDigest": "yes"}, "/policy/agentPools/requireImageDigest"),
        ({"allowedServiceAccounts": ["Admin"]}, "/policy/agentPools/allowedServiceAccounts/0"),
        ({"requiredResourceLimits": ["lots of memory"]}, "/requiredResourceLimits/0"),
        ({"existingConfigMap": "Bad_Name"}, "/policy/agentPools/existingConfigMap"),
        ({"allowedImages": ["ghcr.io/a"]}, "'allowedImages' not allowed"),
    ],
)
def test_schema_rejects_bad_policy_values_naming_them(
    tmp_path: Path, values: dict[str, Any], names: str
) -> None:
    proc = helm_template(tmp_path, {"policy": {"agentPools": values}}, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert names in proc.stderr, proc.stderr
    assert "panic" not in proc.stderr and "goroutine" not in proc.stderr
