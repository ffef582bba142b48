"""A real Prometheus server (Debian's ``prometheus``) on loopback, scraping what tests start.

Targets are added while it runs: the config is rewritten and Prometheus reloaded with SIGHUP.
Without the program the tests skip, unless ``CONFIGURABLE_AGENTS_REQUIRE_PROMETHEUS=1`` (CI).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.processes import free_port, stop, wait_healthy

SCRAPE_INTERVAL = "1s"


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )
    if found is None:
        if os.environ.get("CONFIGURABLE_AGENTS_REQUIRE_PROMETHEUS") == "1":
            pytest.fail("prometheus is required (hack/system-packages.sh installs it)")
        pytest.skip("no prometheus program; `make test` installs it (hack/system-packages.sh)")
    return found


class PrometheusServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "prometheus.yml"
        self.log = folder / "prometheus.log"
        self.jobs: dict[str, list[str]] = {}
        self._write()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    prometheus_binary(),
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(self.proc, f"{self.url}/-/ready", self.log, what="prometheus")

    def _write(self) -> None:
        config = {
            "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in self.jobs.items()
            ],
        }
        self.config.write_text(yaml.safe_dump(config))

    def scrape(self, job: str, base_url: str) -> None:
        """Scrape ``base_url``/metrics as ``job`` from now on."""
        self.jobs.setdefault(job, []).append(base_url.removeprefix("http://").rstrip("/"))
        self._write()
        self.proc.send_signal(signal.SIGHUP)
        self.wait(f'up{{job="{job}"}} == 1')

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = answer.json()
        assert body.get("status") == "success", f"{promql}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, promql: str) -> float:
        """The single value ``promql`` gives (0 when it gives nothing)."""
        result = self.query(promql)
        assert len(result) <= 1, f"{promql}: several series {result}"
        return float(result[0]["value"][1]) if result else 0.0

    def wait(self, promql: str, timeout: float = 30) -> list[dict[str, Any]]:
        """Until ``promql`` gives at least one series (scrapes are every second)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{promql} gave nothing in {timeout}s")
            time.sleep(0.25)

    def stop(self) -> None:
        stop(self.proc, signal.SIGTERM)


def prometheus_server(folder: Path) -> Iterator[PrometheusServer]:
    server = PrometheusServer(folder)
    try:
        yield server
    finally:
        server.stop()
