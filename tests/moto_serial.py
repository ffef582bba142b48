"""moto's server with its requests handled one at a time: ``python -m tests.moto_serial HOST PORT``.

moto checks a DynamoDB condition and applies the update without a lock, so two threads of its
server could both pass ``ConditionExpression``s that DynamoDB itself would let only one of
pass: under load, two claims of one run both won (tests/stores/test_leases.py). The store's
atomicity rests on the service's; the stand-in must keep it. Each request still gets a thread
(clients keep connections open), but holds one lock while moto handles it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serial(app: App) -> App:
    lock = threading.Lock()

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))  # the body too, before the next request

    return handle


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serial(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
