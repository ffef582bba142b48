"""Gateways under test: real `configurable-agents serve` processes over loopback HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLES, REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    def __init__(
        self, store_url: str, workdir: Path, *extra: str, workflows: Path = EXAMPLES
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gateway-{self.port}.log"
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env.setdefault("COUNTER_DIR", str(workdir / "counts"))
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent_runtime",
                    "serve",
                    "--port",
                    str(self.port),
                    "--store",
                    store_url,
                    "--workflows",
                    str(workflows),
                    *extra,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the gateway never became ready:\n{self.log.read_text()[-3000:]}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the gateway and wait; one that does not stop in 20 s is killed outright."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(store_url: str, *extra: str, workflows: Path = EXAMPLES) -> GatewayProcess:
        gateway = GatewayProcess(store_url, tmp_path, *extra, workflows=workflows)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.kill(signal.SIGTERM)


@pytest.fixture
def gateway(start_gateway: Callable[..., GatewayProcess], sqlite_url: str) -> GatewayProcess:
    return start_gateway(sqlite_url)
