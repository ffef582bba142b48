"""PostgreSQL store only: migrations, the pool, safe errors, row locks, restarts (LangGraph's
checkpointer conformance suite is in test_langgraph_conformance.py, for every store)."""

from __future__ import annotations

import asyncio
import socket
from contextlib import AsyncExitStack

import psycopg
import pytest

from agent_runtime.stores import InvalidTransition, RunStatus, StoreError, open_store
from agent_runtime.stores.postgres import MIGRATIONS, PostgresStore
from tests.postgres_harness import PostgresServer
from tests.stores.helpers import make_run
from tests.stores.test_urls import open_error


def scalar(url: str, sql: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.encode()).fetchone()
    assert row is not None
    return row[0]


async def test_concurrent_opens_migrate_once(postgres_url: str) -> None:
    async with AsyncExitStack() as stack:
        first, second = await asyncio.gather(
            stack.enter_async_context(open_store(postgres_url)),
            stack.enter_async_context(open_store(postgres_url)),
        )
        run = await first.create_run(make_run())
        assert await second.get_run(run.id) == run
    async with open_store(postgres_url) as again:
        assert await again.get_run(run.id) == run
    assert scalar(
        postgres_url, "SELECT array_agg(version ORDER BY version) FROM ca_migrations"
    ) == [*range(1, len(MIGRATIONS) + 1)]


async def test_a_schema_newer_than_the_code_is_refused(postgres_url: str) -> None:
    async with open_store(postgres_url):
        pass
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO ca_migrations (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
    message = await open_error(postgres_url)
    assert "schema version" in message
    assert "pw-" not in message


async def test_pool_size_from_the_url(postgres_url: str) -> None:
    async with open_store(postgres_url) as default:
        assert isinstance(default, PostgresStore)
        assert (default.pool_min, default.pool_max) == (1, 10)
    url = f"{postgres_url}?pool_min=2&pool_max=3&pool_timeout=5&application_name=ca-test"
    async with open_store(url) as store:
        assert isinstance(store, PostgresStore)
        assert (store.pool_min, store.pool_max, store.pool_timeout) == (2, 3, 5.0)
        assert store.url == url
        run = await store.create_run(make_run())
        # More concurrent operations than connections: they wait for one, never open a fourth.
        await asyncio.gather(*(store.append_event(run.id, "tick", {}) for _ in range(30)))
        assert len(await store.list_events(run.id)) == 30
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ca-test'"
            ).fetchone()
        assert row is not None and 2 <= row[0] <= 3  # the pool's; other libpq params pass through


@pytest.mark.parametrize(
    "query", ["pool_max=lots", "pool_min=5&pool_max=2", "pool_max=0", "pool_timeout=-1"]
)
async def test_bad_pool_settings(postgres_url: str, query: str) -> None:
    message = await open_error(f"{postgres_url}?{query}")
    assert "pool" in message and "pw-" not in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:s3cr3t-Pa55@127.0.0.1:1/db",  # nothing listens there
        "postgres://user:s3cr3t-Pa55@127.0.0.1:1/db?connect_timeout=2",
        "postgresql://user:s3cr3t-Pa55@127.0.0.1:notaport/db",
        "postgresql://user@127.0.0.1:1/db?password=s3cr3t-Pa55",
        "postgresql://user:s3cr3t-Pa55@127.0.0.1:1/db?pool_max=s3cr3t-Pa55",
        "postgresql://user:s3cr3t%2DPa55@127.0.0.1:1/db?nonsense=1",
    ],
)
async def test_errors_never_show_the_password(url: str) -> None:
    message = await open_error(url)
    assert "s3cr3t" not in message
    assert "Pa55" not in message


def test_unparsable_url_never_shows_the_password() -> None:
    with pytest.raises(StoreError) as info:
        PostgresStore("postgresql://user:s3cr3t-Pa55@[::1/db")
    assert "s3cr3t" not in str(info.value) and "\n" not in str(info.value)


async def test_wrong_password_on_a_real_server(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    url = postgres_url.replace(postgres_server.password, "wrong-s3cr3t")
    message = await open_error(url)
    assert "s3cr3t" not in message and postgres_server.password not in message
    assert "password authentication failed" in message
    assert f":{postgres_server.port}/" in message  # where it tried, without the password


async def test_concurrent_transitions_one_wins(postgres_url: str) -> None:
    """The row lock orders transitions: of ten cancels from two processes, one succeeds."""
    async with open_store(postgres_url) as a, open_store(postgres_url) as b:
        run = await a.create_run(make_run())
        results = await asyncio.gather(
            *(s.transition(run.id, RunStatus.CANCELLED) for s in (a, b) * 5),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1
        assert all(isinstance(r, InvalidTransition) for r in results if isinstance(r, Exception))
        assert (await b.get_run(run.id)).status == RunStatus.CANCELLED
        other = await a.create_run(make_run())  # the pooled connections are usable again
        assert (await a.transition(other.id, RunStatus.RUNNING)).status == RunStatus.RUNNING


async def test_store_works_again_after_a_server_restart(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    async with open_store(f"{postgres_url}?pool_min=3") as store:
        run = await store.create_run(make_run())
        await asyncio.gather(*(store.get_run(run.id) for _ in range(3)))  # three connections
        postgres_server.restart()
        failures = 0
        for _ in range(3):
            try:
                assert await store.get_run(run.id) == run
            except StoreError as exc:  # the first use of a connection the restart broke
                assert "\n" not in str(exc) and postgres_server.password not in str(exc)
                failures += 1
        assert failures <= 1
        await store.append_event(run.id, "after.restart", {})
        assert [e.seq for e in await store.list_events(run.id)] == [1]


def test_a_stopped_server_keeps_its_port_from_other_processes(
    postgres_server: PostgresServer,
) -> None:
    """The chaos suite crashes the server for seconds at a time; another suite's server once took
    the port meanwhile, and the gateways then met a stranger's database."""
    postgres_server.stop("immediate")
    try:
        with socket.socket() as other:
            with pytest.raises(OSError):  # EADDRINUSE: the port is held
                other.bind(("127.0.0.1", postgres_server.port))
        with pytest.raises(psycopg.OperationalError):  # refused, as by a stopped server
            psycopg.connect(postgres_server.url(), connect_timeout=2).close()
    finally:
        postgres_server.start()
    psycopg.connect(postgres_server.url(), connect_timeout=5).close()
