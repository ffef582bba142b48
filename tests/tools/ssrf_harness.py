"""What the SSRF tests stand on: a loopback server that counts connections, a resolver of their
own, and a tripwire that stops any connection or lookup that would leave the loopback range.

The tripwire wraps ``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo`` for the
test: a connection to an address outside 127.0.0.0/8 and ::1 (or to 0.0.0.0, which Linux would
send to this host) is recorded and fails before any packet is sent, and so does a lookup of a
name (the tests' names go through their own resolver, never DNS).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def _loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host).partition("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass
class Tripwire:
    """Connections and lookups the guard should never have let through."""

    violations: list[str] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)

    def connect_to(self, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        self.connects.append(str(host))
        if not _loopback(host):
            self.violations.append(f"connect to {address!r}")
            raise OSError(f"tripwire: refused to connect to {address!r} (not loopback)")

    def look_up(self, host: Any) -> None:
        if host is not None and not _loopback(host):
            self.violations.append(f"getaddrinfo({host!r})")
            raise socket.gaierror(socket.EAI_NONAME, f"tripwire: no lookups of {host!r}")


@contextmanager
def tripwire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tripwire]:
    wire = Tripwire()
    connect, connect_ex, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.getaddrinfo,
    )

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        wire.connect_to(address)
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        wire.connect_to(address)
        return connect_ex(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        wire.look_up(host)
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield wire


class FakeResolver:
    """Names the tests made up, and the addresses they stand for; any other name fails."""

    def __init__(self, names: Mapping[str, Sequence[str]]) -> None:
        self.names = {k: list(v) for k, v in names.items()}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not a test name")
        return list(self.names[host])


class CountingServer(ThreadingHTTPServer):
    """Answers every request from ``routes`` (path -> redirect location) or with 200 'ok'."""

    daemon_threads = True

    def __init__(self, host: str, family: socket.AddressFamily) -> None:
        self.address_family = family
        super().__init__((host, 0), _Handler)
        self.connections = 0
        self.paths: list[str] = []
        self.routes: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        request = super().get_request()
        with self._lock:
            self.connections += 1
        return request

    def reset(self) -> None:
        with self._lock:
            self.connections = 0
            self.paths.clear()
            self.routes.clear()


class _Handler(BaseHTTPRequestHandler):
    server: CountingServer

    def _answer(self) -> None:
        self.server.paths.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        location = self.server.routes.get(self.path)
        if location is not None:
            self.send_response(307)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def counting_server(host: str, family: socket.AddressFamily) -> Iterator[CountingServer]:
    server = CountingServer(host, family)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
