"""The AgentPool admission policy in the real API server, rule by rule: the chart's
ValidatingAdmissionPolicy, binding and parameter ConfigMap, applied for real and bound to this
module's namespaces only (the control plane is shared; fixture ``policy``), refuse what they should
with one line naming the field, store nothing they refuse, and admit the examples. (Edits of the
ConfigMap, and kustomize's policy: ``test_agentpool_policy_edits_cluster``.)
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.deploy.agentpool_policy import ALLOWED, DIGEST, FOREIGN, Policy, assert_refused, pool

pytestmark = pytest.mark.cluster


def test_every_example_agentpool_is_admitted(policy: Policy) -> None:
    files = sorted(EXAMPLES.glob("*/agentpool.yaml"))
    assert len(files) >= 5
    try:
        for path in files:
            proc = policy.apply(path.read_text())
            assert proc.returncode == 0, f"{path}: {proc.stderr}"
            name = yaml.safe_load(path.read_text())["metadata"]["name"]
            assert policy.stored(name) is not None
    finally:
        for path in files:
            policy.kubectl("delete", "-n", policy.pools, "--ignore-not-found", "-f", str(path))


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        pytest.param(
            {"image": FOREIGN},
            ['spec.image: "docker.io/library/python:3.12" is not allowed', "allowedImagePrefixes"],
            id="image-from-another-registry",
        ),
        pytest.param(
            {"image": f"{ALLOWED}-evil:1.0"},
            ["spec.image:", f"must start with one of {ALLOWED} (allowedImagePrefixes in ConfigMap"],
            id="lookalike-repository",
        ),
        pytest.param(
            {"image": f"docker.io/evil/agent{DIGEST}"},
            ["spec.image:", "allowedImagePrefixes"],
            id="digest-of-another-repository",
        ),
        pytest.param(
            {"image": f"{ALLOWED}\nsomething-else"},
            ['spec.image: "ghcr.io/configurable-agents/agent\\nsomething-else"', "allowed"],
            id="image-with-a-line-break",
        ),
        pytest.param(
            {"podTemplate": {"serviceAccountName": "default"}},
            [
                'spec.podTemplate.serviceAccountName: "default" is not allowed',
                "allowedServiceAccounts",
            ],
            id="service-account-not-listed",
        ),
        pytest.param(
            {"resources": None},
            ["spec.resources.limits: set a limit for memory", "requiredResourceLimits"],
            id="no-resources",
        ),
        pytest.param(
            {"resources": {"requests": {"memory": "1Gi"}, "limits": {"cpu": "1"}}},
            ["spec.resources.limits: set a limit for memory", "requiredResourceLimits"],
            id="no-memory-limit",
        ),
        pytest.param(
            {"resources": {"limits": "lots"}},
            ["spec.resources.limits: set a limit for memory", "requiredResourceLimits"],
            id="limits-not-a-mapping",
        ),
        pytest.param(
            {
                "podTemplate": {
                    "annotations": {
                        "container.apparmor.security.beta.kubernetes.io/agent": "unconfined"
                    }
                }
            },
            [
                'spec.podTemplate.annotations: "container.apparmor.security.beta.kubernetes.io/agent"',
                "AppArmor",
            ],
            id="apparmor-unconfined",
        ),
        pytest.param(
            {
                "podTemplate": {
                    "annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}
                }
            },
            ['spec.podTemplate.annotations: "seccomp.security.alpha.kubernetes.io/pod"', "seccomp"],
            id="seccomp-unconfined",
        ),
    ],
)
def test_refused_naming_the_field_and_the_rule(
    policy: Policy, spec: dict[str, Any], said: list[str]
) -> None:
    name = f"refused-{uuid.uuid4().hex[:6]}"
    proc = policy.apply(pool(name, **spec))
    line = assert_refused(policy, proc, name, *said)
    assert f"ValidatingAdmissionPolicy '{policy.name}'" in line
    assert f'agentpools.configurable-agents.io "{name}" is forbidden' in line


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"image": ""}, id="operator-default-image"),
        pytest.param({"image": f"{ALLOWED}:0.1.0"}, id="tag-of-the-allowed-repository"),
        pytest.param({"image": f"{ALLOWED}{DIGEST}"}, id="digest-pinned-allowed-image"),
        pytest.param({"image": f"{ALLOWED}:0.1.0{DIGEST}"}, id="tag-and-digest"),
        pytest.param({"podTemplate": {"serviceAccountName": None}}, id="service-account-null"),
        pytest.param(
            {"resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
            id="more-limits-than-required",
        ),
        pytest.param(
            {
                "podTemplate": {
                    "labels": {"team": "a"},
                    "annotations": {"prometheus.io/scrape": "true"},
                    "nodeSelector": {"pool": "agents"},
                    "tolerations": [{"key": "agents", "operator": "Exists"}],
                }
            },
            id="ordinary-pod-template",
        ),
    ],
)
def test_admitted(policy: Policy, spec: dict[str, Any]) -> None:
    name = f"admitted-{uuid.uuid4().hex[:6]}"
    proc = policy.apply(pool(name, **spec))
    assert proc.returncode == 0, proc.stderr
    assert policy.stored(name) is not None
    policy.kubectl("delete", "agentpool", name, "-n", policy.pools)


def test_the_pools_own_service_account_is_admitted(policy: Policy) -> None:
    """Naming the ServiceAccount the operator makes for the pool is the same as naming none."""
    proc = policy.apply(pool("own", podTemplate={"serviceAccountName": "own-agent"}))
    assert proc.returncode == 0, proc.stderr
    proc = policy.apply(pool("other", podTemplate={"serviceAccountName": "own-agent"}))
    assert_refused(policy, proc, "other", 'spec.podTemplate.serviceAccountName: "own-agent"')
    policy.kubectl("delete", "agentpool", "own", "-n", policy.pools)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"podTemplate": {"hostNetwork": True}}, "spec.podTemplate.hostNetwork"),
        ({"podTemplate": {"hostPID": True}}, "spec.podTemplate.hostPID"),
        ({"podTemplate": {"hostIPC": True}}, "spec.podTemplate.hostIPC"),
        (
            {"podTemplate": {"securityContext": {"privileged": True}}},
            "spec.podTemplate.securityContext",
        ),
        (
            {
                "podTemplate": {
                    "containers": [{"name": "x", "securityContext": {"privileged": True}}]
                }
            },
            "spec.podTemplate.containers",
        ),
        (
            {"podTemplate": {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}},
            "spec.podTemplate.volumes",
        ),
        ({"hostNetwork": True}, "spec.hostNetwork"),
        ({"securityContext": {"privileged": True}}, "spec.securityContext"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_host_namespaces_and_privilege_cannot_be_written(
    policy: Policy, spec: dict[str, Any], field: str
) -> None:
    """The CRD's podTemplate knows only labels, annotations, nodeSelector, tolerations, affinity
    and serviceAccountName: the API server refuses anything else (kubectl validates strictly by
    default) and, told not to validate, drops it: it is never stored, whatever the policy says."""
    name = f"host-{uuid.uuid4().hex[:6]}"
    proc = policy.apply(pool(name, **spec))
    assert_refused(policy, proc, name, f'unknown field "{field}"', "strict decoding error")
    proc = policy.apply(pool(name, **spec), "--validate=false")
    assert proc.returncode == 0, proc.stderr
    stored = policy.stored(name)
    assert stored is not None
    path = field.split(".")[1:]
    where: Any = stored["spec"]
    for part in path[:-1]:
        where = where.get(part, {})
    assert path[-1] not in where, stored["spec"]
    policy.kubectl("delete", "agentpool", name, "-n", policy.pools)


def test_namespaces_the_release_does_not_serve_are_not_judged(policy: Policy) -> None:
    proc = policy.apply(pool("foreign", image=FOREIGN, resources=None), namespace=policy.unserved)
    assert proc.returncode == 0, proc.stderr
    assert policy.stored("foreign", policy.unserved) is not None
