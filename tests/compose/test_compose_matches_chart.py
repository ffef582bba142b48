"""A compose file runs what the Helm chart runs: the same images, the same commands and
arguments, the same environment variable names and the same probe paths, for the gateway, the
dashboard and Postgres (the chart's rendered Deployments and StatefulSet) and for each AgentPool
(the Deployment the operator builds with the settings the chart gives it). Every difference is
one written down in ``agent_runtime.compose.services.DIFFERENCES``, and each listed difference
is a real one (no stale entries)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.compose import ComposeOptions, build_compose, read_folder
from agent_runtime.compose.services import DIFFERENCES, agent_service_name
from agent_runtime.policy import load_policy, policy_from
from tests.compose.harness import EXAMPLE_FOLDERS
from tests.deploy.tools import by_key, render

RELEASE = "ca-configurable-agents"


def container(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for c in doc["spec"]["template"]["spec"]["containers"] if c["name"] == name
    ]
    assert len(found) == 1, name
    return found[0]


def flags(args: list[str]) -> dict[str, str]:
    """``--name=value`` (or a bare ``--name``) arguments by name."""
    out = {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg.partition("=")
            out[name] = value
    return out


def same_but_listed(chart: set[str], compose: set[str], component: str, what: str) -> None:
    difference = DIFFERENCES[(component, what)]
    assert difference.cluster_only <= chart, (
        f"stale cluster_only: {difference.cluster_only - chart}"
    )
    assert difference.compose_only <= compose, (
        f"stale compose_only: {difference.compose_only - compose}"
    )
    assert chart - difference.cluster_only == compose - difference.compose_only


def checked_path(service: dict[str, Any]) -> str:
    """The URL path a compose service's health check asks for."""
    found = re.search(r"http://127\.0\.0\.1:\d+(/[^']*)", service["healthcheck"]["test"][-1])
    assert found, service["healthcheck"]
    return found.group(1)


def env_names(container_or_service: dict[str, Any]) -> set[str]:
    env = container_or_service.get("env", container_or_service.get("environment")) or {}
    return {e["name"] for e in env} if isinstance(env, list) else set(env)


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    home = tmp_path_factory.mktemp("helm")
    return by_key(render(home, {"ui": {"enabled": True, "mode": "deployment"}}))


@pytest.fixture(scope="module", params=EXAMPLE_FOLDERS, ids=[f.name for f in EXAMPLE_FOLDERS])
def compose(request: pytest.FixtureRequest) -> dict[str, Any]:
    project = read_folder(request.param)
    document: dict[str, Any] = build_compose(project, ComposeOptions(".")).document
    document["x-pools"] = project.pools
    return document


def test_the_gateway_service_is_the_charts_gateway(
    chart: dict[tuple[str, str], dict[str, Any]], compose: dict[str, Any], tmp_path: Path
) -> None:
    deployment = chart[("Deployment", f"{RELEASE}-gateway")]
    ours = container(deployment, "gateway")
    service = compose["services"]["gateway"]
    assert service["image"] == ours["image"]
    assert service["command"][0] == ours["args"][0] == "serve"
    chart_flags, compose_flags = flags(ours["args"]), flags(service["command"])
    same_but_listed(set(chart_flags), set(compose_flags), "gateway", "args")
    for name in set(chart_flags) & set(compose_flags):
        assert chart_flags[name] == compose_flags[name], name
    same_but_listed(env_names(ours), env_names(service), "gateway", "env")
    assert checked_path(service) == ours["readinessProbe"]["httpGet"]["path"]
    port = int(compose_flags["--port"])
    assert ours["ports"][0]["containerPort"] == port
    assert service["ports"] == [f"127.0.0.1:${{GATEWAY_PORT:-{port}}}:{port}"]
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert service["user"] == f"{pod['runAsUser']}:{pod['runAsGroup']}"
    assert service["read_only"] is ours["securityContext"]["readOnlyRootFilesystem"] is True
    # the chart's tool policy file and the compose file's policy variables say the same
    config_map = chart[("ConfigMap", f"{RELEASE}-tool-policy")]
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(config_map["data"]["policy.yaml"])
    assert load_policy(service["environment"]) == policy_from(file=policy_file)


def test_the_dashboard_service_is_the_charts_ui(
    chart: dict[tuple[str, str], dict[str, Any]], compose: dict[str, Any]
) -> None:
    ours = container(chart[("Deployment", f"{RELEASE}-ui")], "ui")
    service = compose["services"]["ui"]
    assert service["image"] == ours["image"]
    # the same arguments, but for the gateway's address (its Service there, its DNS name here)
    gateway = ours["args"].index("--gateway") + 1
    assert ours["args"][gateway] == f"http://{RELEASE}-gateway:80"
    assert service["command"][gateway] == "http://gateway:8080"
    assert [a for i, a in enumerate(service["command"]) if i != gateway] == [
        str(a) for i, a in enumerate(ours["args"]) if i != gateway
    ]
    assert env_names(service) == env_names(ours)
    assert checked_path(service) == ours["livenessProbe"]["httpGet"]["path"]


def test_the_postgres_service_is_the_charts_trial_postgres(
    chart: dict[tuple[str, str], dict[str, Any]], compose: dict[str, Any]
) -> None:
    ours = container(chart[("StatefulSet", f"{RELEASE}-postgres")], "postgres")
    service = compose["services"]["postgres"]
    assert service["image"] == ours["image"]
    same_but_listed(env_names(ours), env_names(service), "postgres", "env")
    chart_env = {e["name"]: e.get("value") for e in ours["env"]}
    for name in ("POSTGRES_DB", "POSTGRES_USER"):
        assert service["environment"][name] == chart_env[name]
    assert service["healthcheck"]["test"] == ["CMD", *ours["readinessProbe"]["exec"]["command"]]
    assert any(v.startswith("postgres-data:") for v in service["volumes"])


def test_each_agent_service_is_the_operators_agent_workload(
    chart: dict[tuple[str, str], dict[str, Any]],
    compose: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The operator, configured as the chart configures it, builds each pool's Deployment."""
    from agents_operator.builders import build_children
    from agents_operator.settings import OperatorSettings

    operator = container(chart[("Deployment", f"{RELEASE}-operator")], "operator")
    for env in operator["env"]:
        if env["name"].startswith("CONFIGURABLE_AGENTS_OPERATOR_") and "value" in env:
            monkeypatch.setenv(env["name"], env["value"])
    settings = OperatorSettings()
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(chart[("ConfigMap", f"{RELEASE}-tool-policy")]["data"]["policy.yaml"])
    policy = policy_from(file=policy_file)
    pools = compose["x-pools"]
    assert pools, "every example folder has an AgentPool"
    for pool in pools:
        (workload,) = [
            c for c in build_children(pool, settings, policy) if c["kind"] == "Deployment"
        ]
        ours = container(workload, "agent")
        service = compose["services"][agent_service_name(pool.metadata.name)]
        assert service["image"] == ours["image"]
        assert service["command"] == ours["args"]
        same_but_listed(env_names(ours), env_names(service), "agent", "env")
        built = {e["name"]: e.get("value") for e in ours["env"]}
        other = DIFFERENCES[("agent", "env")].other_values
        assert other <= env_names(ours) & env_names(service), "stale other_values"
        for name in env_names(ours) & env_names(service) - other:
            if built[name] is not None and "{" not in str(service["environment"][name]):
                assert service["environment"][name] == built[name], name
        assert service["deploy"]["replicas"] == workload["spec"].get("replicas", pool.spec.replicas)
        assert checked_path(service) == ours["readinessProbe"]["httpGet"]["path"]
        assert service["read_only"] is ours["securityContext"]["readOnlyRootFilesystem"] is True
        pod = workload["spec"]["template"]["spec"]["securityContext"]
        assert service["user"].split(":")[0] == str(pod["runAsUser"])
        # the operator's pod labels, for whoever looks containers up by them
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert service["labels"] == pod_labels
