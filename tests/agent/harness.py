"""Agent servers as real subprocesses (``python -m agent_runtime.agent``) on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey

from tests.conftest import REPO
from tests.processes import free_port, metric

#: The secret shared by gateway and agents in the task-token tests.
SECRET = "task-secret-for-tests-0123456789abcdef"


def signed(secret: str, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": "configurable-agents-gateway",
        "aud": "configurable-agents-agent",
        "iat": now,
        "exp": now + 60,
    }
    body.update(claims)
    return jwt.encode({"alg": "HS256"}, body, OctKey.import_key(secret.encode()))


def post_task(agent: AgentProcess, token: str | None, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{agent.url}/v1/tasks",
        json=llm_task("r1") if body is None else body,
        headers=headers,
        timeout=10,
    )


def start_secret_agent(folder: Path) -> AgentProcess:
    """An agent that takes only tasks signed with SECRET (``task_auth: secret``)."""
    agent = AgentProcess(
        folder,
        capabilities=("llm",),
        extra_env={
            "CONFIGURABLE_AGENTS_TASK_AUTH": "secret",
            "CONFIGURABLE_AGENTS_TASK_SECRET": SECRET,
        },
    )
    agent.wait_ready()
    return agent


def llm_task(run_id: str, *, node: str = "n", delay: str = "0s", **extra: Any) -> dict[str, Any]:
    """A node task for the ``scripted`` provider, as the engine sends it (camelCase)."""
    task: dict[str, Any] = {
        "runId": run_id,
        "workflow": "t",
        "node": node,
        "type": "llm",
        "model": {"provider": "scripted", "responses": [f"done: {run_id}"], "delay": delay},
        "prompt": "do the thing",
    }
    task.update(extra)
    return task


class AgentProcess:
    """One agent server; its log (JSON lines) goes to ``log_path``."""

    def __init__(
        self,
        folder: Path,
        *,
        name: str = "agent",
        capabilities: Iterable[str] = ("llm",),
        max_concurrent_tasks: int = 2,
        drain_timeout: str = "10s",
        port: int | None = None,
        extra_env: dict[str, str] | None = None,
        cli_args: Iterable[str] | None = None,
    ) -> None:
        """``cli_args``: run ``configurable-agents agent ARGS`` instead of the module."""
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.counter_dir = folder / "counts"
        self.log_path = folder / f"{name}.log"
        env = dict(os.environ)
        env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
                "COUNTER_DIR": str(self.counter_dir),
                "CONFIGURABLE_AGENTS_HOST": "127.0.0.1",
                "CONFIGURABLE_AGENTS_PORT": str(self.port),
                "CONFIGURABLE_AGENTS_POOL": name,
                "CONFIGURABLE_AGENTS_CAPABILITIES": ",".join(capabilities),
                "CONFIGURABLE_AGENTS_MAX_CONCURRENT_TASKS": str(max_concurrent_tasks),
                "CONFIGURABLE_AGENTS_DRAIN_TIMEOUT": drain_timeout,
                **(extra_env or {}),
            }
        )
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent_runtime", "agent", *cli_args]
            if cli_args is not None
            else [sys.executable, "-m", "agent_runtime.agent"],
            env=env,
            cwd=folder,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready after {timeout}s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metric(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels``."""
        return metric(self.url, name, **labels)

    async def readyz_until(self, done: Callable[[httpx.Response], bool]) -> httpx.Response:
        """Poll ``/readyz`` until ``done`` holds for its answer, for up to 10s."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            for _ in range(1000):
                response = await client.get("/readyz")
                if done(response):
                    return response
                await asyncio.sleep(0.01)
        raise AssertionError(f"{self.name}: /readyz still answers {response.text}")

    async def wait_in_flight(self, count: int) -> None:
        await self.readyz_until(lambda r: r.json().get("inFlight") == count)

    async def wait_draining(self) -> None:
        await self.readyz_until(lambda r: r.status_code == 503)

    def tasks_done(self) -> float:
        return self.metric("configurable_agents_agent_tasks_total", outcome="succeeded")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.wait_stopped()

    def wait_stopped(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def counts(counter_dir: Path) -> dict[str, int]:
    """Executions of the counting tools (tests.counting_tools) in an agent's ``COUNTER_DIR``."""
    if not counter_dir.exists():
        return {}
    return {p.name: len(p.read_text().splitlines()) for p in counter_dir.iterdir()}


@contextmanager
def agents(folder: Path, count: int, **options: Any) -> Iterator[list[AgentProcess]]:
    """``count`` agents started at once, stopped (SIGTERM) at the end."""
    started = [AgentProcess(folder, name=f"agent{i}", **options) for i in range(count)]
    try:
        for agent in started:
            agent.wait_ready()
        yield started
    finally:
        for agent in started:
            if agent.proc.poll() is None:
                agent.signal(signal.SIGTERM)
        for agent in started:
            agent.wait_stopped()
