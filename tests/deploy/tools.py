"""helm and kubectl for the deployment tests: the pinned binaries built by hack/, run for real."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.kube_harness import controlplane

CHART = REPO / "helm" / "configurable-agents"
MANIFESTS = REPO / "manifests"
#: Cluster-scoped kinds among what the chart and manifests render.
CLUSTER_KINDS = {
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterKopfPeering",
    "CustomResourceDefinition",
    "Namespace",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}


def binary(name: str) -> str:
    """A pinned binary from the control-plane build (``make cluster-build`` builds helm too)."""
    folder = (
        controlplane.find_binaries()
        or Path(
            os.environ.get("CONFIGURABLE_AGENTS_CACHE", Path.home() / ".cache/configurable-agents")
        )
        / "bin"
        / controlplane.read_versions()["KUBERNETES_VERSION"]
    )
    path = Path(folder) / name
    if not os.access(path, os.X_OK):
        message = f"{path} is missing: build it with `make cluster-build`"
        if os.environ.get("CONFIGURABLE_AGENTS_REQUIRE_CLUSTER"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return str(path)


def helm_env(home: Path, kubeconfig: str | None = None) -> dict[str, str]:
    """helm keeps its cache, config and data under ``home``, never in the user's folders."""
    env = dict(os.environ)
    for var, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config")):
        env[var] = str(home / sub)
    env["HELM_DATA_HOME"] = str(home / "data")
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    return env


def run(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, input=stdin, timeout=300, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
        )
    return proc


def set_args(values: dict[str, Any]) -> list[str]:
    """``--set-json key=json`` for each value: types survive, unlike ``--set``."""
    import json

    args: list[str] = []
    for key, value in values.items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def helm_template(
    home: Path,
    values: dict[str, Any] | None = None,
    *,
    release: str = "ca",
    namespace: str = "ca-system",
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    return run(
        [binary("helm"), "template", release, str(CHART), "-n", namespace, *set_args(values or {})],
        env=helm_env(home),
        check=check,
    )


def render(home: Path, values: dict[str, Any] | None = None, **kw: Any) -> list[dict[str, Any]]:
    return documents(helm_template(home, values, **kw).stdout)


def kustomize(overlay: str) -> list[dict[str, Any]]:
    return documents(run([binary("kubectl"), "kustomize", str(MANIFESTS / overlay)]).stdout)


def by_key(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    ]


def permissions(docs: list[dict[str, Any]], service_account: str) -> set[tuple[str, str, str, str]]:
    """What a ServiceAccount may do: (namespace or '*', apiGroup, resource, verb) over all bindings."""
    roles = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
        for d in docs
        if d["kind"] in ("ClusterRole", "Role")
    }
    granted: set[tuple[str, str, str, str]] = set()
    for binding in docs:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == service_account
            for s in binding.get("subjects", [])
        ):
            continue
        scope = binding["metadata"].get("namespace", "*")
        ref = binding["roleRef"]
        role_ns = "" if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        role = roles[(ref["kind"], role_ns, ref["name"])]
        for rule in role["rules"]:
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule["verbs"]:
                        granted.add((scope, group, resource, verb))
    return granted
