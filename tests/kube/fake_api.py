"""A scripted Kubernetes API server on loopback, for the client's requests without a cluster.

Tests under tests/kube use it through the fixtures ``api`` and ``client`` (its conftest). Each
request is recorded (method, path, query, headers, body); the answer is the next one queued
for its method and path, or a 404 Status. A watch answer is a list of events written one per line,
after which the connection closes (a server-side timeout, to the client).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "scripted-token"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    answers: defaultdict[tuple[str, str], deque[tuple[int, Any]]] = field(
        default_factory=lambda: defaultdict(deque)
    )

    def answer(self, method: str, path: str, status: int, body: Any) -> None:
        """Queue an answer; ``body`` a list of events answers a watch."""
        self.answers[(method, path)].append((status, body))

    def requests(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path) == (method, path)]

    def kubeconfig(self, folder: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": TOKEN}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "ns"}}
            ],
            "current-context": "fake",
        }
        path = folder / "kubeconfig"
        path.write_text(json.dumps(config))
        return path


def status(code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "message": message,
    }


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            api.seen.append(
                Seen(
                    self.command,
                    url.path,
                    dict(parse_qsl(url.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            queued = api.answers.get((self.command, url.path))
            code, body = queued.popleft() if queued else (404, status(404, "not found"))
            if isinstance(body, list):  # a watch: events, then the server ends the stream
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in body:
                    self.wfile.write(json.dumps(event).encode() + b"\n")
                    self.wfile.flush()
                self.close_connection = True
                return
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


@contextmanager
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
