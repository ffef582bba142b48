"""A TCP relay in front of the API server whose open connections a test can cut.

The API server authorises a watch only when it opens it; a test that revokes a permission cuts
the relay's connections so the gateway reconnects (as it would at its watch timeout) and meets
the new RBAC. TLS passes through untouched: the client still talks to the API server.
"""

from __future__ import annotations

import socket
import threading


class Relay:
    """Listens on a free loopback port and relays each connection to ``upstream``."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="relay", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(src)
            self._drop(dst)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        try:  # shutdown wakes the other pump blocked in recv(); close alone may not
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def cut(self) -> int:
        """Drop every open connection; how many there were."""
        with self._lock:
            current = list(self._open)
        for sock in current:
            self._drop(sock)
        return len(current) // 2

    def close(self) -> None:
        self.server.close()
        self.cut()
