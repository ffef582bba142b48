"""The compose tests' tools: the generator run as users run it, and two validators that parse,
interpolate and validate a compose file against the Compose Specification's schema without any
container engine: Debian's docker-compose (``config``; hack/system-packages.txt) and
compose-config (compose-go, the loader Compose v2's ``config`` runs; hack/build-compose-config.sh).
Either missing skips the tests that need it, or fails them with CONFIGURABLE_AGENTS_REQUIRE_COMPOSE
(CI sets it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.built_programs import BuiltProgram, truthy
from tests.conftest import CLI, EXAMPLES, REPO

#: Every example folder that holds a Workflow (compose files are made for those).
EXAMPLE_FOLDERS = sorted(p.parent for p in EXAMPLES.glob("*/workflow.yaml"))
PROFILES = ("dashboard", "observability", "mlflow")
#: The committed compose file and the folder it is generated from.
COMMITTED = REPO / "compose.yaml"
COMMITTED_SOURCE = EXAMPLES / "01-linear-chain"


COMPOSE_CONFIG = BuiltProgram(
    "compose-config",
    "build-compose-config.sh",
    "CONFIGURABLE_AGENTS_REQUIRE_COMPOSE",
    build_time="about 1 minute",
)
#: The two validators: Debian's docker-compose (Compose v1.29, in Python) and compose-config
#: (compose-go, the loader of Compose v2, whose schema is the current Compose Specification).
VALIDATORS = ("docker-compose", "compose-go")


def docker_compose() -> list[str]:
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
    if truthy("CONFIGURABLE_AGENTS_REQUIRE_COMPOSE"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def config_command(validator: str, profiles: tuple[str, ...]) -> list[str]:
    """``config`` of the compose.yaml (and .env) in the working directory, with profiles."""
    chosen = [a for p in profiles for a in ("--profile", p)]
    if validator == "compose-go":
        return [str(COMPOSE_CONFIG.binary()), *chosen, "compose.yaml"]
    return [*docker_compose(), *chosen, "config"]


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


def config(
    project: Path, *profiles: str, validator: str = "docker-compose", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Compose's ``config`` of the project folder (its compose.yaml and .env), with profiles.

    The environment is the test's own without any variable the compose file names, so only the
    env file fills them in."""
    names = {"POSTGRES_PASSWORD", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "REGION", "GATEWAY_PORT"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in names and not k.startswith(("CONFIGURABLE_AGENTS_", "OTEL_"))
    }
    done = subprocess.run(
        config_command(validator, profiles),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    if check:
        assert done.returncode == 0, f"{validator} config failed:\n{done.stderr}{done.stdout}"
    return done


def resolved(project: Path, *profiles: str, validator: str = "docker-compose") -> dict[str, Any]:
    """The project as Compose resolves it: variables filled in from the env file."""
    loaded: dict[str, Any] = yaml.safe_load(config(project, *profiles, validator=validator).stdout)
    return loaded


def env_values(project: Path) -> dict[str, str]:
    values = {}
    for line in (project / ".env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values
