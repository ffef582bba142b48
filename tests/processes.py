"""Starting the project's servers as real processes in tests: ports, readiness, stopping."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    proc: subprocess.Popen[bytes], url: str, log: Path, *, what: str, timeout: float = 30
) -> None:
    """Until ``url`` answers 200; fail at once with the log's end if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the {what} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the {what} never answered {url}:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes], sig: int, *, grace: float = 20) -> None:
    """Signal and wait; a process that does not stop within ``grace`` is killed outright."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_cluster_gateway(
    workdir: Path,
    kubeconfig: Path | str,
    *args: str,
    env: dict[str, str] | None = None,
    ready: str = "/healthz",
) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``serve --kubernetes`` on a free port with its own SQLite store, once ``ready`` answers;
    the process, its URL and its log."""
    port, log = free_port(), workdir / f"gateway-{uuid.uuid4().hex[:6]}.log"
    environ = dict(os.environ, KUBECONFIG=str(kubeconfig), PYTHONPATH=str(REPO), **(env or {}))
    store = f"sqlite:///{workdir / 'runs.db'}"
    command = [sys.executable, "-m", "agent_runtime", "serve", "--kubernetes"]
    authenticates = any(a.startswith(("--auth", "--insecure-no-auth")) for a in args)
    if not authenticates and not (env or {}).get("CONFIGURABLE_AGENTS_AUTH"):
        command.append("--insecure-no-auth")  # tests of other things than authentication
    SERVER_LOGS.watch(log, "gateway")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--store", store, *args],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, f"{url}{ready}", log, what="gateway")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, url, log


def metric(url: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples (at ``{url}/metrics``) whose labels include ``labels``."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


#: Levels of a JSON log line (agent_runtime.telemetry.logs) that count as errors.
ERROR_LEVELS = frozenset({"error", "critical"})
#: Lines of a plain-text log that count as errors (a traceback printed outside logging too).
_TEXT_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback \(most recent call last\)")


def error_text(line: str) -> str | None:
    """The line's message (with its exception's last line) if it is an error line, else None."""
    try:
        record = json.loads(line)
    except ValueError:
        return line.strip() if _TEXT_ERROR.search(line) else None
    if not isinstance(record, dict) or str(record.get("level", "")).lower() not in ERROR_LEVELS:
        return None
    exception = str(record.get("exception") or "").strip().splitlines()
    tail = f" ({exception[-1]})" if exception else ""
    return f"[{record.get('logger', '')}] {record.get('message', '')}{tail}"


class ServerLogs:
    """The logs of the servers cluster tests start (operator, gateways), read for error lines
    after every test (Strimzi's rule: a server that logs an error nobody expected fails the test
    it happened in). Each log is read from where the last check stopped."""

    def __init__(self) -> None:
        self._read: dict[Path, int] = {}
        self._what: dict[Path, str] = {}

    def watch(self, log: Path, what: str) -> None:
        """Check ``log`` from its current end on; call it before the server starts writing."""
        if log not in self._read:
            self._read[log] = log.stat().st_size if log.exists() else 0
            self._what[log] = what

    def unexpected(self, expected: list[re.Pattern[str]]) -> list[str]:
        """The error lines written since the last call that match none of ``expected``."""
        found = []
        for log, start in self._read.items():
            if not log.exists():
                continue
            with log.open("rb") as f:
                f.seek(start)
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for the next
            self._read[log] = start + len(complete)
            for line in complete.decode(errors="replace").splitlines():
                text = error_text(line)
                if text is not None and not any(p.search(text) for p in expected):
                    found.append(f"{self._what[log]} ({log.name}): {text}")
        return found


#: The one ServerLogs of a test session (tests/kube_harness.py checks it after each test).
SERVER_LOGS = ServerLogs()
