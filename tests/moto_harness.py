"""pytest plugin: one real S3/DynamoDB-compatible HTTP server (moto) per session, on loopback.

Register it in tests/conftest.py ``pytest_plugins``. Fixtures:

- ``moto_server`` (session): moto's server (``tests/moto_serial.py``: one request at a time, so
  DynamoDB's conditions hold as on the service) started as a subprocess on a free loopback
  port; its ``endpoint``; stopped at the end of the session.

For the whole session (from ``pytest_configure``) the process environment holds fake AWS
credentials and a region (real ones, if any, are put back at the end), so no test, and no CLI
subprocess a test starts, can reach a real AWS account.
- ``s3_url``: a store URL with its own DynamoDB table and S3 bucket, created by the store's own
  ``store init`` code (``S3Store.init``).
- ``s3_url_uninitialized``: the same, with nothing created.

boto3 is never patched: every call goes over HTTP to the server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import free_port, stop, wait_healthy

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing-s3cr3t",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
#: Variables that could point boto3 at a real account or another endpoint: removed meanwhile.
CLEARED = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB")


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, *, table: str | None = None, bucket: str | None = None) -> str:
        """A store URL with a table and bucket of its own (not created)."""
        unique = uuid.uuid4().hex[:12]
        return (
            f"s3://{bucket or 'ca-test-' + unique}/runs"
            f"?table={table or 'ca-test-' + unique}&region=us-east-1&endpoint={self.endpoint}"
        )


_saved: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Fake credentials for the whole session, before any fixture copies the environment."""
    _saved.update({k: os.environ.get(k) for k in (*FAKE_ENV, *CLEARED)})
    os.environ.update(FAKE_ENV)
    for name in CLEARED:
        os.environ.pop(name, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.moto_serial", "127.0.0.1", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false", "MOTO_PORT": str(port)},
            cwd=Path(__file__).resolve().parent.parent,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, f"{endpoint}/moto-api/", log, what="moto server", timeout=60)
        yield MotoServer(endpoint, proc, log)
    finally:
        stop(proc, 15, grace=10)


@pytest.fixture
def s3_url_uninitialized(moto_server: MotoServer) -> str:
    return moto_server.url()


@pytest.fixture
def s3_url(s3_url_uninitialized: str) -> str:
    from agent_runtime.stores.s3 import S3Store

    asyncio.run(S3Store(s3_url_uninitialized).init())
    return s3_url_uninitialized
