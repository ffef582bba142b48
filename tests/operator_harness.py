"""The operator under test: a real process, authenticated as its own ServiceAccount (a plugin).

It is bound to ``manifests/rbac/clusterrole.yaml`` and nothing else, so every test here also
proves that role is enough.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.kube_harness import EXPECTED_EVERYWHERE, run_kubectl
from tests.processes import SERVER_LOGS, free_port, stop, wait_healthy

SYSTEM_NS = "configurable-agents-system"
SA = "configurable-agents-operator"


class OperatorProcess:
    def __init__(self, control_plane: Any, workdir: Path) -> None:
        self.cp = control_plane
        self.workdir = workdir
        self.kubeconfig = workdir / "operator.kubeconfig"
        self.log = workdir / "operator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.health_port = free_port()
        self.metrics_port = free_port()

    def write_kubeconfig(self) -> None:
        run_kubectl(self.cp, "create", "namespace", SYSTEM_NS, check=False)
        for name in ("clusterrole.yaml", "serviceaccount.yaml"):
            run_kubectl(self.cp, "apply", "-f", str(REPO / "manifests" / "rbac" / name))
        token = run_kubectl(
            self.cp, "create", "token", SA, "-n", SYSTEM_NS, "--duration=10h"
        ).stdout.strip()
        admin = json.loads(Path(self.cp.kubeconfig).read_text())
        cluster = admin["clusters"][0]["cluster"]
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "test", "cluster": cluster}],
                    "users": [{"name": SA, "user": {"exec": self.exec_plugin(token)}}],
                    "contexts": [{"name": "operator", "context": {"cluster": "test", "user": SA}}],
                    "current-context": "operator",
                }
            )
        )

    def exec_plugin(self, token: str) -> dict[str, Any]:
        """An exec credential plugin handing out the token, as EKS's and GKE's do: kopf's login
        (agents_operator/login.py) and lightkube both run it, so every test here covers it."""
        (self.workdir / "token").write_text(token)
        credential = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "kind": "ExecCredential",
            "status": {"token": "TOKEN", "expirationTimestamp": "2099-01-01T00:00:00Z"},
        }
        script = (
            "import json, pathlib, sys; "
            f"credential = {credential!r}; "
            f"credential['status']['token'] = pathlib.Path({str(self.workdir / 'token')!r})"
            ".read_text(); print(json.dumps(credential))"
        )
        return {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": ["-c", script],
        }

    def start(self) -> None:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        SERVER_LOGS.watch(self.log, "operator")  # once: a restart appends to the same log
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent_runtime",
                    "operator",
                    "--health-port",
                    str(self.health_port),
                    "--metrics-port",
                    str(self.metrics_port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        wait_healthy(self.proc, url, self.log, what="operator")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGTERM)

    def restart(self) -> None:
        self.stop()
        self.start()

    def metrics(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            return str(r.read().decode())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def operator(
    control_plane: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(control_plane, tmp_path_factory.mktemp("operator"))
    process.write_kubeconfig()
    process.start()
    try:
        yield process
    finally:
        process.stop()
    expected = [re.compile(pattern) for pattern in EXPECTED_EVERYWHERE]
    if found := SERVER_LOGS.unexpected(expected):  # what it logged after the last test, stopping
        raise AssertionError("unexpected error lines in the operator's log:\n" + "\n".join(found))


def eventually(check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll ``check`` until it returns something truthy without raising; re-raise at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, subprocess.CalledProcessError, KeyError, IndexError, StopIteration):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check}")
        time.sleep(interval)
