"""Toxiproxy, a real TCP proxy the chaos suite puts in the network paths it breaks.

The server is built from pinned Go modules by ``hack/build-toxiproxy.sh`` (``make test`` and
``make chaos`` build it; a session that needs it builds it once, unless
CONFIGURABLE_AGENTS_NO_BUILD is set). Missing, the network chaos test is skipped with the reason,
or fails when CONFIGURABLE_AGENTS_REQUIRE_TOXIPROXY is set (CI sets it). Everything listens on
127.0.0.1 only.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.built_programs import BuiltProgram
from tests.processes import free_port, stop, wait_healthy

TOXIPROXY = BuiltProgram(
    "Toxiproxy",
    "build-toxiproxy.sh",
    "CONFIGURABLE_AGENTS_REQUIRE_TOXIPROXY",
    build_time="about 30 seconds",
)


class Toxiproxy:
    """One ``toxiproxy-server`` process and its HTTP API: proxies, their toxics, partitions."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "toxiproxy.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(binary), "-host", "127.0.0.1", "-port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{self.port}"
        wait_healthy(self.proc, f"{url}/version", self.log, what="toxiproxy")
        self.api = httpx.Client(base_url=url, timeout=10)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.api.request(method, path, json=body)
        if response.status_code >= 300:
            raise AssertionError(
                f"toxiproxy {method} {path}: {response.status_code} {response.text}"
            )
        return response.json() if response.content else None

    def proxy(self, name: str, upstream_port: int) -> int:
        """A new proxy from a free loopback port to ``upstream_port``; its port."""
        port = free_port()
        self._call(
            "POST",
            "/proxies",
            {
                "name": name,
                "listen": f"127.0.0.1:{port}",
                "upstream": f"127.0.0.1:{upstream_port}",
                "enabled": True,
            },
        )
        return port

    def names(self) -> list[str]:
        return sorted(self._call("GET", "/proxies"))

    def add_toxic(self, proxy: str, name: str, kind: str, stream: str, **attributes: int) -> None:
        """A toxic on every connection of ``proxy`` (``stream``: upstream or downstream)."""
        self._call(
            "POST",
            f"/proxies/{proxy}/toxics",
            {
                "name": name,
                "type": kind,
                "stream": stream,
                "toxicity": 1.0,
                "attributes": attributes,
            },
        )

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def enable(self, proxy: str, enabled: bool) -> None:
        """Disabled, the proxy closes its connections and refuses new ones (a partition)."""
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    def close(self) -> None:
        self.api.close()
        stop(self.proc, signal.SIGTERM, grace=5)
