"""LangGraph's published checkpointer conformance suite against each store's own saver, on a
fresh store (file, database, or table and bucket) per capability."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES, Capability

from agent_runtime.stores import open_store
from tests.conftest import STORE_BACKENDS

FreshUrl = Callable[[], AbstractAsyncContextManager[str]]

#: What every store's saver must pass; the S3 saver also copies threads.
REQUIRED = {c.value for c in BASE_CAPABILITIES} | {Capability.PRUNE.value}
EXTRA = {"s3": {Capability.COPY_THREAD.value}}


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> FreshUrl:
    backend = request.param

    @asynccontextmanager
    async def fresh() -> AsyncIterator[str]:
        if backend == "sqlite":
            yield f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
        elif backend == "postgres":
            server = request.getfixturevalue("postgres_server")
            database = server.create_database()
            try:
                yield server.url(database)
            finally:
                server.drop_database(database)
        else:
            from agent_runtime.stores.s3 import S3Store

            url = request.getfixturevalue("moto_server").url()
            await S3Store(url).init()
            yield url

    return fresh


@pytest.mark.parametrize("fresh_url", STORE_BACKENDS, indirect=True)
async def test_langgraph_checkpointer_conformance(
    fresh_url: FreshUrl, request: pytest.FixtureRequest
) -> None:
    backend = request.node.callspec.params["fresh_url"]
    capabilities = REQUIRED | EXTRA.get(backend, set())

    @checkpointer_test(name=f"configurable-agents {backend} store")
    async def store_checkpointer() -> AsyncGenerator[BaseCheckpointSaver[object], None]:
        async with fresh_url() as url, open_store(url) as store:
            yield store.checkpointer()

    report = await validate(store_checkpointer, capabilities=capabilities)
    summary = {
        name: (r.passed, r.tests_passed, r.tests_failed, r.failures[:3])
        for name, r in report.results.items()
        if name in capabilities
    }
    assert set(summary) == capabilities, summary
    assert all(passed is True for passed, *_ in summary.values()), summary
    assert all(tests_passed > 0 for _, tests_passed, *_ in summary.values()), summary
