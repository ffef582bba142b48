"""The AgentPool admission policy as its cluster tests drive it: pools to submit, an installed
policy (its objects, its parameter ConfigMap, the namespace it judges) and what a refusal must
look like (one line naming the field, nothing stored)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from tests.operator_harness import eventually

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

    def patch(
        self, name: str, body: dict[str, Any], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """A merge patch of a pool in the namespace judged."""
        patch = json.dumps(body)
        return self.kubectl(
            "patch", "agentpool", name, "-n", self.pools, "--type=merge", "-p", patch, check=check
        )

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
