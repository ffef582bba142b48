"""Shared fixtures: each test gets its own store; real servers are started once per session."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent_runtime.stores import RunStore, open_store

pytest_plugins = [
    "tests.kube_harness",
    "tests.postgres_harness",
    "tests.operator_harness",
    "tests.moto_harness",
]

#: Agents and cluster gateways default to the strict ``cluster`` tool policy, which refuses the
#: test tools (``tests.counting_tools`` ...) the suites run everywhere; tests of the policy itself
#: set what they check. Subprocesses inherit it.
os.environ.setdefault("CONFIGURABLE_AGENTS_POLICY_PRESET", "local")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


#: Store backends the conformance suites run against; later backends add a factory here.
STORE_BACKENDS = ["sqlite", "postgres", "s3"]


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    if request.param == "s3":
        s3: str = request.getfixturevalue("s3_url")
        return s3
    raise NotImplementedError(request.param)


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[RunStore]:
    async with open_store(store_url) as opened:
        yield opened


@pytest.fixture
def cli_env(tmp_path: Path, sqlite_url: str) -> dict[str, str]:
    """Environment for CLI subprocesses: its own store, the repo importable (for test tools)."""
    env = dict(os.environ)
    env["CONFIGURABLE_AGENTS_STORE"] = sqlite_url
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["COUNTER_DIR"] = str(tmp_path / "counts")
    env.pop("OPENAI_API_KEY", None)
    return env


CLI = [sys.executable, "-m", "agent_runtime"]
