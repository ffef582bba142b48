"""The Postgres store's connections: one pool (psycopg 3, async, autocommit), migrations when it
opens, and driver errors turned into one-line StoreErrors without the password."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import NoReturn

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from agent_runtime.stores.errors import StoreError
from agent_runtime.stores.postgres.fencing import lease_lost
from agent_runtime.stores.postgres.schema import Conn, migrate, utc
from agent_runtime.stores.postgres.url import connection_lost, one_line, parse_url
from agent_runtime.stores.records import RunRecord
from agent_runtime.stores.sql.outbox import DeferringStore, OutboxSaver, StepOutbox

#: Runs this process created, claimed or moved to running, to move on without reading them.
_KNOWN_RUNS = 10_000


class PostgresConnection(DeferringStore):
    """What every concern of the Postgres store stands on: the pool and its errors, and the runs
    this process last wrote (``_remember``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._url = parse_url(url)
        self._safe_url, self._conninfo = self._url.shown, self._url.conninfo
        self.pool_min, self.pool_max = self._url.pool_min, self._url.pool_max
        self.pool_timeout = self._url.pool_timeout
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._outbox = StepOutbox()
        self._saver: OutboxSaver | None = None
        self._known: dict[str, RunRecord] = {}

    def _remember(self, run: RunRecord) -> None:
        """Keep a run as this process wrote it, to move it on with one statement, checked
        against what it wrote (``records._swap``); bounded, oldest forgotten first."""
        if len(self._known) >= _KNOWN_RUNS:
            self._known.pop(next(iter(self._known)))
        self._known[run.id] = run

    def _fail(self, exc: BaseException, doing: str) -> NoReturn:
        """Raise a one-line StoreError for a driver error; never with the password."""
        message = f"{doing} the PostgreSQL store at {self._safe_url}: {one_line(exc)}"
        raise StoreError(self._url.scrub(message)) from None

    @abstractmethod
    def _new_saver(self) -> OutboxSaver: ...

    async def open(self) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, row_factory=dict_row
            )
        except (psycopg.Error, OSError) as exc:
            self._fail(exc, "cannot connect to")
        try:
            async with conn:
                await migrate(conn, self._safe_url)
            pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
                self._conninfo,
                connection_class=psycopg.AsyncConnection[DictRow],
                kwargs={"autocommit": True, "row_factory": dict_row},
                min_size=self.pool_min,
                max_size=self.pool_max,
                timeout=self.pool_timeout,
                name="configurable-agents",
                open=False,
            )
            self._pool = pool
            await pool.open(wait=True, timeout=self.pool_timeout)
            self._saver = self._new_saver()
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            await self.close()
            self._fail(exc, "cannot open")
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool, self._saver = self._pool, None, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A pooled connection (autocommit); driver errors become one-line StoreErrors (a fenced
        write's refusal: ``LeaseLost``)."""
        if self._pool is None:
            raise StoreError("the store is not open")
        pool = self._pool
        try:
            async with pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            if lost := lease_lost(exc):
                raise lost from None
            if connection_lost(exc):
                # The server may have restarted: drop the idle connections that died with this
                # one now, rather than failing one operation for each of them.
                with suppress(psycopg.Error, PoolTimeout):
                    await pool.check()
            self._fail(exc, "error from")

    def is_transient(self, exc: BaseException) -> bool:
        """Lost connections and restarts, also when LangGraph's saver meets them first."""
        return super().is_transient(exc) or isinstance(
            exc, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout
        )

    @staticmethod
    async def _write_run(conn: Conn, run: RunRecord) -> None:
        """Replace a run's record and the columns kept from it."""
        await conn.execute(
            "UPDATE ca_runs SET status = %s, finished_at = %s, lease_owner = %s,"
            " lease_expires_at = %s, record = %s::jsonb WHERE id = %s",
            (
                run.status.value,
                utc(run.finished_at) if run.finished_at else None,
                run.lease_owner,
                utc(run.lease_expires_at) if run.lease_expires_at else None,
                run.model_dump_json(),
                run.id,
            ),
        )
