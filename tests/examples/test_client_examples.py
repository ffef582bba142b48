"""The client examples (examples/clients) run as a user runs them: each script as its own process,
with its protocol's real client library, against `serve --workflows examples/`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import EXAMPLES
from tests.gateway.conftest import GatewayProcess

CLIENTS = EXAMPLES / "clients"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    folder = tmp_path_factory.mktemp("client-examples")
    started = GatewayProcess(f"sqlite:///{folder / 'runs.db'}", folder)
    try:
        yield started
    finally:
        started.kill()


def run(script: str, gateway: GatewayProcess) -> str:
    done = subprocess.run(
        [sys.executable, str(CLIENTS / script)],
        env={**os.environ, "GATEWAY": gateway.url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def test_every_client_example_is_run_here() -> None:
    scripts = {p.stem for p in CLIENTS.glob("*.py")}
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert scripts <= tested, "a test named test_<script>"


def test_openai_chat(gateway: GatewayProcess) -> None:
    out = run("openai_chat.py", gateway)
    assert "'default/chat'" in out
    assert "answer: 6 times 7 is 42." in out
    assert "streamed: 6 times 7 is 42." in out
    assert "turns: 2" in out
    assert "unknown model: 404 model_not_found" in out


def test_mcp_tools(gateway: GatewayProcess) -> None:
    out = run("mcp_tools.py", gateway)
    assert "'default.linear-chain'" in out and "'resume_run'" in out
    assert "progress 1: research finished" in out and "progress 2: write finished" in out
    assert "output: {'draft': 'Brief: durable agents checkpoint every step" in out


def test_langgraph_client(gateway: GatewayProcess) -> None:
    out = run("langgraph_client.py", gateway)
    assert "assistant: default/chat" in out
    assert out.count("6 times 7 is 42.") == 2
    # each turn: the question, the calculator's call and result, the answer
    assert "messages on the thread: 8" in out


def test_a2a_client(gateway: GatewayProcess) -> None:
    out = run("a2a_client.py", gateway)
    assert "agent: default/human-approval" in out
    assert "TASK_STATE_WORKING node.finished draft" in out
    assert "waiting for input on task run-" in out
    assert "'published': 'PUBLISHED: " in out
    assert out.rstrip().endswith("TASK_STATE_COMPLETED")
