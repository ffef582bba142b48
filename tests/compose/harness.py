"""The compose tests' tools: the generator run as users run it, and Compose's own ``config``
(Debian's docker-compose; hack/system-packages.txt), which parses, interpolates and validates a
compose file against the Compose specification's schema without any container engine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CLI, EXAMPLES, REPO

#: Every example folder that holds a Workflow (compose files are made for those).
EXAMPLE_FOLDERS = sorted(p.parent for p in EXAMPLES.glob("*/workflow.yaml"))
PROFILES = ("dashboard", "observability", "mlflow")
#: The committed compose file and the folder it is generated from.
COMMITTED = EXAMPLES / "compose" / "compose.yaml"
COMMITTED_SOURCE = EXAMPLES / "01-linear-chain"


def compose_command() -> list[str]:
    """``docker compose`` (the v2 plugin) when there is one, else ``docker-compose``."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    tool = shutil.which("docker-compose")
    if tool:
        return [tool]
    message = "no Compose: install Debian's docker-compose (hack/system-packages.sh)"
    if os.environ.get("CONFIGURABLE_AGENTS_REQUIRE_COMPOSE") == "1":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def generate(
    folder: Path, out: Path, *extra: str, env_file: bool = True
) -> subprocess.CompletedProcess[str]:
    """``configurable-agents compose FOLDER -o OUT/compose.yaml [--env-file OUT/.env]``."""
    out.mkdir(parents=True, exist_ok=True)
    args = [*CLI, "compose", str(folder), "-o", str(out / "compose.yaml"), *extra]
    if env_file:
        args += ["--env-file", str(out / ".env")]
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def config(project: Path, *profiles: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Compose's ``config`` of the project folder (its compose.yaml and .env), with profiles.

    The environment is the test's own without any variable the compose file names, so only the
    env file fills them in."""
    names = {"POSTGRES_PASSWORD", "OPENAI_API_KEY", "GATEWAY_PORT"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in names and not k.startswith(("CONFIGURABLE_AGENTS_", "OTEL_"))
    }
    args = [*compose_command()]
    for profile in profiles:
        args += ["--profile", profile]
    done = subprocess.run(
        [*args, "config"], cwd=project, capture_output=True, text=True, timeout=120, env=env
    )
    if check:
        assert done.returncode == 0, f"compose config failed:\n{done.stderr}{done.stdout}"
    return done


def resolved(project: Path, *profiles: str) -> dict[str, Any]:
    """The project as Compose resolves it: variables filled in from the env file."""
    loaded: dict[str, Any] = yaml.safe_load(config(project, *profiles).stdout)
    return loaded


def env_values(project: Path) -> dict[str, str]:
    values = {}
    for line in (project / ".env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values
