"""checkov's Kubernetes checks on what we deploy: the chart (default and production values), the
kustomize base and the workloads the operator makes for AgentPools. Any failed check not in
checkov-skips.yaml fails the test, and so does a skip that nothing needs any more.

checkov lives in a virtualenv of its own (``make checkov-venv``, which ``make test`` runs): it
pins boto3, packaging and cachetools below the project's own pins. It runs offline: nothing
downloaded from its vendor's platform, no update check, and any HTTP(S) it still tried would go
to a closed loopback port.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from agents_operator.builders import build_children
from agents_operator.settings import OperatorSettings
from pydantic import BaseModel, ConfigDict, Field

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.agentpool import AgentPool
from tests.conftest import REPO
from tests.deploy.tools import MANIFESTS, binary, helm_template, run

CACHE = Path(
    os.environ.get("CONFIGURABLE_AGENTS_CACHE", Path.home() / ".cache/configurable-agents")
)
CHECKOV = CACHE / "checkov-venv" / "bin" / "checkov"
SKIPS = REPO / "checkov-skips.yaml"
DIGEST = "sha256:" + "ab" * 32

#: What the README's production install sets: images pinned by digest, an external store, a
#: warm-standby operator, an autoscaled gateway, the dashboard on its own with sign-in.
PRODUCTION: dict[str, Any] = {
    "operator": {"replicas": 2, "image": {"tag": "0.1.0", "digest": DIGEST}},
    "agent": {"image": {"tag": "0.1.0", "digest": DIGEST}},
    "store": {"existingSecret": "configurable-agents-store"},
    "postgres": {"enabled": False},
    "gateway": {
        "autoscaling": {"enabled": True},
        "auth": {
            "mode": "kubernetes,oidc",
            "oidc": {"issuerUrl": "https://sso.example.com", "audience": "agents"},
        },
    },
    "ui": {
        "enabled": True,
        "mode": "deployment",
        "image": {"tag": "0.1.0", "digest": DIGEST},
        "secret": {"existingSecret": "configurable-agents-ui-secret"},
        "signin": {
            "issuerUrl": "https://sso.example.com",
            "clientId": "agents",
            "externalUrl": "https://agents.example.com",
            "clientSecret": {"existingSecret": "sso-client"},
        },
    },
    "policy": {
        "agentPools": {"requireImageDigest": True, "requiredResourceLimits": ["cpu", "memory"]}
    },
}


class Skip(BaseModel):
    """One accepted failure: a check, where it may fail, and why that is right."""

    model_config = ConfigDict(extra="forbid")

    check: str = Field(pattern=r"^CKV2?_K8S_\d+$")
    #: KIND/NAME patterns (fnmatch) of the resources that may fail it; omitted: any.
    resources: list[str] = Field(default_factory=lambda: ["*"])
    #: The inputs (keys of INPUTS) where it may fail; omitted: all.
    inputs: list[str] = Field(default_factory=list)
    reason: str = Field(min_length=20)

    def covers(self, source: str, check: str, resource: str) -> bool:
        return (
            check == self.check
            and (not self.inputs or source in self.inputs)
            and any(fnmatch.fnmatchcase(resource, p) for p in self.resources)
        )


class SkipList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skips: list[Skip]


def agent_pools() -> list[dict[str, Any]]:
    """The operator's children of a plain pool and of a production one (digest, limits, every
    podTemplate field), each as Deployment and StatefulSet, with task authentication on."""
    settings = OperatorSettings(
        agent_image=f"ghcr.io/configurable-agents/agent:0.1.0@{DIGEST}",
        task_callers=["system:serviceaccount:ca-system:ca-gateway"],
        gateway_namespace="ca-system",
        gateway_pod_labels={"app.kubernetes.io/component": "gateway"},
    )
    docs: list[dict[str, Any]] = []
    for workload in ("Deployment", "StatefulSet"):
        for name, spec in (
            ("plain", {"resources": {"limits": {"memory": "512Mi"}}}),
            (
                "production",
                {
                    "image": f"registry.example.com/agents/custom:1@{DIGEST}",
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "256Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"},
                    },
                    "env": [
                        {
                            "name": "OPENAI_API_KEY",
                            "valueFrom": {"secretKeyRef": {"name": "openai", "key": "key"}},
                        }
                    ],
                    "podTemplate": {"nodeSelector": {"kubernetes.io/os": "linux"}},
                },
            ),
        ):
            pool = AgentPool.model_validate(
                {
                    "apiVersion": "configurable-agents.io/v1alpha1",
                    "kind": "AgentPool",
                    "metadata": {"name": f"{name}-{workload.lower()}", "namespace": "team-a"},
                    "spec": {"capabilities": ["llm"], "workload": workload, **spec},
                }
            )
            docs += build_children(pool, settings, ToolPolicy.cluster())
    return docs


#: What checkov scans, each in a folder of its own.
INPUTS = ("chart-default", "chart-production", "kustomize-base", "agent-pools")


def render_inputs(folder: Path) -> None:
    """Each input in a folder of its own, named like the input."""
    texts = {
        "chart-default": helm_template(folder.parent / "helm-home", {}).stdout,
        "chart-production": helm_template(folder.parent / "helm-home", PRODUCTION).stdout,
        "kustomize-base": run([binary("kubectl"), "kustomize", str(MANIFESTS / "base")]).stdout,
        "agent-pools": yaml.safe_dump_all(agent_pools()),
    }
    for name, text in texts.items():
        path = folder / name / f"{name}.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(text)


def checkov(folder: Path) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """(input, check id, KIND/NAME) of each failed check under ``folder``, and the number of
    passed checks per input (the first folder under ``folder``). One run for every input:
    checkov's start-up is most of its time."""
    env = dict(
        os.environ,
        BC_SKIP_MAPPING="TRUE",
        CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE",
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
        LOG_LEVEL="ERROR",
    )
    # Not --quiet: the passed checks show that every input was read.
    proc = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(folder),
            "--framework",
            "kubernetes",
            "--compact",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    # exit 1: some check failed (judged by the caller); anything else is checkov failing
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed: list[tuple[str, str, str]] = []
    passed: dict[str, int] = {}
    for one in reports:
        if one.get("check_type") != "kubernetes":
            continue
        results = one["results"]
        for check in results["passed_checks"]:
            source = check["file_path"].strip("/").split("/")[0]
            passed[source] = passed.get(source, 0) + 1
        for check in results["failed_checks"]:
            kind, *_, name = check["resource"].split(".")
            source = check["file_path"].strip("/").split("/")[0]
            failed.append((source, check["check_id"], f"{kind}/{name}"))
    return failed, passed


@pytest.fixture(scope="module")
def checkov_binary() -> Path:
    if not os.access(CHECKOV, os.X_OK):
        message = f"no checkov at {CHECKOV}: `make checkov-venv` installs it"
        if os.environ.get("CONFIGURABLE_AGENTS_REQUIRE_CHECKOV"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return CHECKOV


def load_skips() -> list[Skip]:
    return SkipList.model_validate(yaml.safe_load(SKIPS.read_text())).skips


def test_the_skip_list_is_justified() -> None:
    skips = load_skips()
    assert skips
    for skip in skips:
        assert set(skip.inputs) <= set(INPUTS), skip
        assert "\n" not in skip.reason.strip(), f"{skip.check}: one line of reason"


#: The negative control, scanned with the inputs: a privileged container.
CONTROL: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "root", "namespace": "team-a"},
    "spec": {
        "containers": [{"name": "c", "image": "app:1", "securityContext": {"privileged": True}}]
    },
}

Scan = tuple[list[tuple[str, str, str]], dict[str, int]]


@pytest.fixture(scope="module")
def scan(checkov_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    """One checkov run over every input and the control (its start-up is most of its time)."""
    folder = tmp_path_factory.mktemp("checkov") / "inputs"
    render_inputs(folder)
    (folder / "control").mkdir()
    (folder / "control" / "pod.yaml").write_text(yaml.safe_dump(CONTROL))
    started = time.monotonic()
    found = checkov(folder)
    print(f"checkov: {time.monotonic() - started:.1f}s for {len(INPUTS)} inputs and the control")
    return found


def test_only_the_documented_checks_fail(scan: Scan) -> None:
    skips = load_skips()
    failed, passed = scan
    for source in INPUTS:
        assert passed.get(source, 0) > 50, f"{source}: checkov passed {passed.get(source)} only"
    used: set[int] = set()
    unexpected: list[str] = []
    for source, check, resource in failed:
        if source == "control":
            continue
        covering = [i for i, s in enumerate(skips) if s.covers(source, check, resource)]
        used.update(covering)
        if not covering:
            unexpected.append(f"{source}: {check} on {resource}")
    assert not unexpected, "failed checks not in checkov-skips.yaml:\n" + "\n".join(unexpected)
    stale = [f"{s.check} {s.resources} {s.inputs}" for i, s in enumerate(skips) if i not in used]
    assert not stale, f"skips in checkov-skips.yaml that nothing needs: {stale}"


def test_a_failing_check_is_caught(scan: Scan) -> None:
    """The negative control: a privileged container fails checks no skip would cover."""
    failed, _ = scan
    assert ("control", "CKV_K8S_16", "Pod/root") in failed  # "Container should not be privileged"
    skips = load_skips()
    assert not any(s.covers(i, "CKV_K8S_16", "Pod/root") for s in skips for i in INPUTS)
