"""The AgentPool admission policy in the real API server: the chart's ValidatingAdmissionPolicy,
binding and parameter ConfigMap (and kustomize's), applied for real and bound to this module's
namespaces only (the control plane is shared), refuse what they should with one line naming the
field, store nothing they refuse, admit the examples, and follow edits of the ConfigMap.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.deploy.tools import MANIFESTS, binary, documents, helm_template, run
from tests.kube_harness import run_kubectl
from tests.operator_harness import eventually

pytestmark = pytest.mark.cluster

ALLOWED = "ghcr.io/configurable-agents/agent"
DIGEST = "@sha256:" + "0123456789abcdef" * 4
FOREIGN = "docker.io/library/python:3.12"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def pool(name: str, **spec: Any) -> str:
    """An AgentPool; ``resources`` defaults to a memory limit (what the default policy asks),
    ``resources=None`` leaves it out."""
    body: dict[str, Any] = {"capabilities": ["llm"], "resources": {"limits": {"memory": "512Mi"}}}
    body.update(spec)
    body = {k: v for k, v in body.items() if v is not None}
    return yaml.safe_dump(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": name},
            "spec": body,
        }
    )


@dataclass
class Policy:
    """An installed policy: its name, the namespace of its ConfigMap, the one it judges."""

    kubectl: Kubectl
    name: str
    system: str
    pools: str
    unserved: str
    params: dict[str, Any]

    def apply(
        self, manifest: str, *args: str, namespace: str = ""
    ) -> subprocess.CompletedProcess[str]:
        ns = namespace or self.pools
        return self.kubectl("apply", "-n", ns, *args, "-f", "-", stdin=manifest, check=False)

    def stored(self, name: str, namespace: str = "") -> dict[str, Any] | None:
        proc = self.kubectl(
            "get", "agentpool", name, "-n", namespace or self.pools, "-o", "json", check=False
        )
        if proc.returncode != 0:
            assert "NotFound" in proc.stderr, proc.stderr
            return None
        found: dict[str, Any] = json.loads(proc.stdout)
        return found

    def refuses(self, manifest: str) -> str:
        """The one line the policy refuses ``manifest`` with (a server dry run: nothing is
        stored even when it is admitted), or "" when it is admitted."""
        proc = self.apply(manifest, "--dry-run=server")
        if proc.returncode == 0:
            return ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        return lines[0]

    def set_params(self, **data: str) -> None:
        patch = json.dumps({"data": data})
        self.kubectl(
            "patch", "configmap", self.name, "-n", self.system, "--type=merge", "-p", patch
        )

    def restore_params(self) -> None:
        manifest = yaml.safe_dump(self.params)
        self.kubectl("apply", "-n", self.system, "-f", "-", stdin=manifest)
        self.wait_enforced()

    def wait_enforced(self) -> None:
        """Until the API server has type-checked the policy (with no warning) and enforces it
        with these parameters: a pool with a foreign image is refused (bounded)."""

        def checked() -> bool:
            found = json.loads(
                self.kubectl("get", "validatingadmissionpolicy", self.name, "-o", "json").stdout
            )
            status = found.get("status") or {}
            done = status.get("observedGeneration") == found["metadata"]["generation"]
            return done and "typeChecking" in status

        eventually(checked, timeout=30)
        found = json.loads(
            self.kubectl("get", "validatingadmissionpolicy", self.name, "-o", "json").stdout
        )
        assert not found["status"]["typeChecking"].get("expressionWarnings"), found["status"]
        eventually(lambda: "spec.image" in self.refuses(pool("probe", image=FOREIGN)), timeout=30)


def assert_refused(
    policy: Policy, proc: subprocess.CompletedProcess[str], name: str, *said: str
) -> str:
    """One line, naming the field and the rule, no traceback; nothing of the object stored."""
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    for words in said:
        assert words in line, line
    for noise in ("Traceback", "goroutine", "panic", "<nil>"):
        assert noise not in line, line
    assert policy.stored(name) is None, f"{name} was stored although refused"
    return line


def create_namespace(kubectl: Kubectl, name: str) -> None:
    kubectl("create", "namespace", name)


def delete_namespaces(kubectl: Kubectl, *names: str) -> None:
    for name in names:
        kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="module")
def module_kubectl(control_plane: Any) -> Kubectl:
    def _run(*args: str, stdin: str | None = None, check: bool = True, timeout: float = 120) -> Any:
        return run_kubectl(control_plane, *args, stdin=stdin, check=check, timeout=timeout)

    return _run


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


@pytest.fixture
def params_restored(policy: Policy) -> Iterator[Policy]:
    """For tests that edit the ConfigMap: put it back afterwards, as the chart made it."""
    try:
        yield policy
    finally:
        policy.restore_params()


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
    policy.kubectl(
        "patch", "agentpool", "earlier", "-n", policy.pools, "--type=merge", "-p", json.dumps(patch)
    )
    proc = policy.kubectl(
        "patch",
        "agentpool",
        "earlier",
        "-n",
        policy.pools,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"replicas": 3}}),
        check=False,
    )
    assert proc.returncode != 0
    assert "spec.resources.limits: set a limit for cpu (requiredResourceLimits" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    stored = policy.stored("earlier")
    assert stored is not None and stored["spec"]["replicas"] == 1
    # The scale subresource (kubectl scale, the HPA) is not judged either.
    policy.kubectl("scale", "agentpool/earlier", "-n", policy.pools, "--replicas=2")
    policy.kubectl(
        "patch",
        "agentpool",
        "earlier",
        "-n",
        policy.pools,
        "--type=merge",
        "-p",
        json.dumps({"metadata": {"finalizers": None}}),
    )
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
