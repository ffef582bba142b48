"""The AgentPool admission policy in the real API server as a platform team edits it: its
ConfigMap's parameters change the decisions (pools admitted earlier keep taking the operator's
patches), without the ConfigMap every pool is refused, and kustomize's policy enforces the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.deploy.agentpool_policy import (
    ALLOWED,
    DIGEST,
    FOREIGN,
    Kubectl,
    Policy,
    assert_refused,
    create_namespace,
    delete_namespaces,
    pool,
)
from tests.deploy.tools import MANIFESTS, binary, documents, run
from tests.operator_harness import eventually

pytestmark = pytest.mark.cluster


@pytest.fixture
def params_restored(policy: Policy) -> Iterator[Policy]:
    """For tests that edit the ConfigMap: put it back afterwards, as the chart made it."""
    try:
        yield policy
    finally:
        policy.restore_params()


def test_platform_team_edits_change_the_decision(params_restored: Policy) -> None:
    policy = params_restored
    team = "registry.example.com/team/agent:2.0"
    assert "spec.image" in policy.refuses(pool("team", image=team))
    builder = pool("builder", podTemplate={"serviceAccountName": "builder"})
    assert "spec.podTemplate.serviceAccountName" in policy.refuses(builder)
    bare = pool("bare", resources=None)
    assert "spec.resources.limits" in policy.refuses(bare)

    policy.set_params(
        allowedImagePrefixes=f"{ALLOWED}\nregistry.example.com/team/",
        allowedServiceAccounts="builder, reader",
        requiredResourceLimits="",
    )
    eventually(lambda: not policy.refuses(pool("team", image=team)), timeout=30)
    assert not policy.refuses(builder)
    assert not policy.refuses(bare)
    for manifest, name in (
        (pool("team", image=team), "team"),
        (builder, "builder"),
        (bare, "bare"),
    ):
        assert policy.apply(manifest).returncode == 0
        assert policy.stored(name) is not None
    # ...still only under the folder named, and still no other account.
    assert "spec.image" in policy.refuses(
        pool("other-folder", image="registry.example.com/teamx/agent:1")
    )
    assert "spec.podTemplate.serviceAccountName" in policy.refuses(
        pool("other-account", podTemplate={"serviceAccountName": "admin"})
    )

    # Digests required: a tag of an allowed image is refused, its digest admitted.
    policy.set_params(requireImageDigest="true")
    tagged = pool("tagged", image=f"{ALLOWED}:0.1.0")
    eventually(lambda: "requireImageDigest" in policy.refuses(tagged), timeout=30)
    line = assert_refused(policy, policy.apply(tagged), "tagged", "spec.image:", "pinned by digest")
    assert "requireImageDigest in ConfigMap" in line
    assert not policy.refuses(pool("pinned", image=f"{ALLOWED}{DIGEST}"))
    assert not policy.refuses(pool("default-image"))  # the operator's image: not the pool's to pin

    # Any image at all.
    policy.set_params(allowedImagePrefixes="*", requireImageDigest="false")
    eventually(lambda: not policy.refuses(pool("any", image=FOREIGN)), timeout=30)
    for name in ("team", "builder", "bare"):
        policy.kubectl("delete", "agentpool", name, "-n", policy.pools)


def test_pools_admitted_earlier_keep_taking_the_operators_patches(params_restored: Policy) -> None:
    """A tightened policy judges new and changed specs only: kopf's finalizer and annotation
    patches of a pool admitted earlier go through; a change of its spec must meet the policy."""
    policy = params_restored
    assert policy.apply(pool("earlier")).returncode == 0
    policy.set_params(requiredResourceLimits="memory,cpu")
    eventually(lambda: "cpu" in policy.refuses(pool("later")), timeout=30)
    patch = {
        "metadata": {
            "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
            "annotations": {"kopf.zalando.org/last-handled-configuration": "{}"},
            "labels": {"team": "a"},
        }
    }
    policy.patch("earlier", patch)
    proc = policy.patch("earlier", {"spec": {"replicas": 3}}, check=False)
    assert proc.returncode != 0
    assert "spec.resources.limits: set a limit for cpu (requiredResourceLimits" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    stored = policy.stored("earlier")
    assert stored is not None and stored["spec"]["replicas"] == 1
    # The scale subresource (kubectl scale, the HPA) is not judged either.
    policy.kubectl("scale", "agentpool/earlier", "-n", policy.pools, "--replicas=2")
    policy.patch("earlier", {"metadata": {"finalizers": None}})
    policy.kubectl("delete", "agentpool", "earlier", "-n", policy.pools)


def test_without_its_config_map_every_pool_is_refused(params_restored: Policy) -> None:
    """parameterNotFoundAction Deny: deleting the ConfigMap does not switch the guardrail off."""
    policy = params_restored
    example = (EXAMPLES / "01-linear-chain" / "agentpool.yaml").read_text()
    policy.kubectl("delete", "configmap", policy.name, "-n", policy.system)
    eventually(lambda: "parameterNotFoundAction" in policy.refuses(example), timeout=30)
    proc = policy.apply(example)
    assert_refused(policy, proc, "researchers", "no params found", "`Deny` parameterNotFoundAction")


def test_kustomize_policy_enforces_the_same(module_kubectl: Kubectl, policy: Policy) -> None:
    """manifests/policy (what overlays install; test_kustomize checks it is the chart's), with its
    names made unique and its binding narrowed to one namespace, as overlays/namespaced does."""
    kubectl = module_kubectl
    prefix = f"k{uuid.uuid4().hex[:6]}"
    system, pools = f"{prefix}-system", f"{prefix}-pools"
    text = run([binary("kubectl"), "kustomize", str(MANIFESTS / "policy")]).stdout
    text = text.replace("configurable-agents-system", system).replace(
        "configurable-agents-agentpool-policy", f"{prefix}-agentpool-policy"
    )
    docs = documents(text)
    binding = next(d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding")
    binding["spec"]["matchResources"] = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": pools}}
    }
    cluster_scoped = yaml.safe_dump_all([d for d in docs if d["kind"] != "ConfigMap"])
    for name in (system, pools):
        create_namespace(kubectl, name)
    try:
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
        installed = Policy(kubectl, f"{prefix}-agentpool-policy", system, pools, "", {})
        installed.wait_enforced()
        example = EXAMPLES / "05-tool-agent" / "agentpool.yaml"
        assert installed.apply(example.read_text()).returncode == 0
        proc = installed.apply(pool("foreign", image=FOREIGN))
        assert_refused(installed, proc, "foreign", "spec.image:", "allowedImagePrefixes")
    finally:
        kubectl("delete", "--ignore-not-found", "-f", "-", stdin=cluster_scoped, check=False)
        delete_namespaces(kubectl, system, pools)
