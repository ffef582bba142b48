"""A scripted API server (``tests.kube.fake_api``) and a client of it, for each test here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_runtime.kube import KubeClient, load_configuration
from tests.kube.fake_api import FakeApi, fake_api


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with fake_api() as api:
        yield api


@pytest.fixture
def verbs() -> list[str]:
    """The verbs of the requests ``client`` made."""
    return []


@pytest.fixture
async def client(api: FakeApi, tmp_path: Path, verbs: list[str]) -> AsyncIterator[KubeClient]:
    """A client of ``api``, applying as the field manager ``tester``."""
    client = KubeClient(
        load_configuration(str(api.kubeconfig(tmp_path))),
        field_manager="tester",
        on_request=verbs.append,
    )
    yield client
    await client.aclose()
