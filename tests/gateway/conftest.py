"""Gateways under test: real `configurable-agents serve` processes over loopback HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLES, REPO
from tests.gated_workflows import PAY_ONE
from tests.processes import free_port, stop, wait_healthy


class GatewayProcess:
    def __init__(
        self,
        store_url: str,
        workdir: Path,
        *extra: str,
        workflows: Path = EXAMPLES,
        env: dict[str, str] | None = None,
        ready_timeout: float = 30,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"gateway-{self.port}.log"
        environ = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
        environ.setdefault("COUNTER_DIR", str(workdir / "counts"))
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
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(
            self.proc, f"{self.url}/readyz", self.log, what="gateway", timeout=ready_timeout
        )

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        stop(self.proc, sig)


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(
        store_url: str,
        *extra: str,
        workflows: Path = EXAMPLES,
        env: dict[str, str] | None = None,
    ) -> GatewayProcess:
        gateway = GatewayProcess(store_url, tmp_path, *extra, workflows=workflows, env=env)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.kill(signal.SIGTERM)


@pytest.fixture
def gateway(start_gateway: Callable[..., GatewayProcess], sqlite_url: str) -> GatewayProcess:
    return start_gateway(sqlite_url)


#: One node whose scripted model takes ``delay``: runs to watch, wait on or cap.
SLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: slow, namespace: {namespace}}}
spec:
  state: {{topic: {{type: string}}, answer: {{type: string}}}}
  input: [topic]
  output: [answer]
  models: {{m: {{provider: scripted, responses: ["done"], delay: {delay}}}}}
  nodes:
    - {{name: think, type: llm, model: m, prompt: "{{{{ topic }}}}", output: answer}}
  edges:
    - {{from: START, to: think}}
    - {{from: think, to: END}}
"""


def protocol_folder(folder: Path) -> Path:
    """What the protocol servers' tests serve: the linear-chain and human-approval examples,
    ``slow`` (30 s) and ``pay`` (one tool call that waits for an approval)."""
    for example in ("01-linear-chain", "04-human-approval"):
        (folder / example).mkdir(parents=True)
        (folder / example / "workflow.yaml").write_text(
            (EXAMPLES / example / "workflow.yaml").read_text()
        )
    slow_workflow(folder, delay="30s")
    (folder / "pay.yaml").write_text(PAY_ONE)
    return folder


def slow_workflow(folder: Path, *, namespace: str = "default", delay: str = "1s") -> Path:
    """A folder holding the ``slow`` Workflow, to serve with ``--workflows``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slow.yaml").write_text(SLOW.format(namespace=namespace, delay=delay))
    return folder
