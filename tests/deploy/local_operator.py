"""The operator run as a local process with a release's account token, for the chart's cluster
tests (what its RBAC allows, peering between two replicas)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.processes import free_port, stop, wait_healthy


class LocalOperator:
    """The operator as a local process, authenticated only by a token of the chart's account
    (and with ``settings``, e.g. the environment the chart gives it)."""

    def __init__(
        self,
        workdir: Path,
        kubeconfig: Path,
        *,
        namespace: str,
        peering: str,
        priority: int,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.log = workdir / f"operator-{priority}.log"
        self.health = free_port()
        env = dict(
            os.environ,
            **(settings or {}),
            KUBECONFIG=str(kubeconfig),
            CONFIGURABLE_AGENTS_OPERATOR_PEERING=peering,
            CONFIGURABLE_AGENTS_OPERATOR_PEERING_PRIORITY=str(priority),
        )
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent_runtime",
                    "operator",
                    "--namespace",
                    namespace,
                    "--health-port",
                    str(self.health),
                    "--metrics-port",
                    "0",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(
            self.proc, f"http://127.0.0.1:{self.health}/healthz", self.log, what="operator"
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.proc, signal.SIGTERM)
