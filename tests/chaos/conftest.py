"""What the chaos tests share besides their fleet: a folder of the Workflow they run, and a
database whose commits survive the server's crashes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.postgres_harness import PostgresServer


@pytest.fixture
def workflows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Writes a Workflow into the folder the gateways serve, and returns the folder; its
    counting tools count in ``tmp_path/counts`` (``COUNTER_DIR``, inherited by every process)."""
    monkeypatch.setenv("COUNTER_DIR", str(tmp_path / "counts"))

    def folder(workflow: str) -> Path:
        out = tmp_path / "workflows"
        out.mkdir()
        (out / "order.yaml").write_text(workflow)
        return out

    return folder


@pytest.fixture
def durable_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database with durable commits: the schedule crashes the server, and a run whose
    creation it acknowledged must be there afterwards (the tests' other databases commit
    asynchronously, which loses the last commits to a crash by design)."""
    name = postgres_server.create_database()
    postgres_server.durable_commits(name)
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
