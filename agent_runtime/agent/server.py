"""Running the agent server: ``run_agent(settings)``, with a drain on SIGTERM.

uvicorn on its own stops listening at SIGTERM; a pod should rather stay reachable while it drains,
so callers learn from ``/readyz`` and from 503 ``draining`` answers to go elsewhere. Hence the
first SIGTERM (or SIGINT) only starts the drain: not ready, new tasks refused, tasks in flight
finished (up to ``drain_timeout``); then uvicorn's own shutdown closes the connections and runs
the lifespan's end, and the process exits 0. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from agent_runtime.agent.app import create_app
from agent_runtime.agent.membership import Membership, RegistrationRefused
from agent_runtime.agent.runner import TaskRunner
from agent_runtime.agent.settings import AgentSettings
from agent_runtime.telemetry import configure_logging
from agent_runtime.telemetry.tracing import setup_tracing

log = logging.getLogger(__name__)

#: Idle keep-alive connections outlive the client's pool expiry, so a reused one is never closed
#: under a request that is being sent.
KEEP_ALIVE = 75


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first exit signal drains the app's ``TaskRunner`` first."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_timeout: float) -> None:
        super().__init__(config)
        self.app = app
        self.drain_timeout = drain_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None
        self._signalled = False
        #: The gateway refused this agent's registration: it stops, and did not start.
        self.refused = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Listen, then (an agent outside the cluster) register with the gateway: a refusal is
        one clear log line and exit status 3, not a failed lifespan's traceback."""
        await super().startup(sockets)
        membership: Membership | None = getattr(self.app.state, "membership", None)
        if membership is None or self.should_exit:
            return
        try:
            await membership.start()
        except RegistrationRefused as exc:
            log.error("%s", exc)
            self.refused = True
            self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Unlike uvicorn's, this handler does not re-raise the signal after shutdown: exit 0.
        if self._signalled or self._loop is None:
            log.warning("exit signal %d again: exiting without waiting for tasks", sig)
            self.should_exit = self.force_exit = True
            return
        self._signalled = True
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self._drain = asyncio.create_task(self.drain())

    async def drain(self) -> None:
        """Drain the runner, then let uvicorn shut down."""
        runner: TaskRunner | None = getattr(self.app.state, "runner", None)
        if runner is not None:
            runner.start_draining()
            try:
                async with asyncio.timeout(self.drain_timeout):
                    await runner.wait_idle()
            except TimeoutError:
                log.warning(
                    "drain timed out after %gs with %d task(s) in flight; exiting anyway",
                    self.drain_timeout,
                    runner.in_flight,
                )
            else:
                log.info("drained; shutting down")
        self.should_exit = True


def run_agent(settings: AgentSettings) -> bool:
    """Serve the agent until SIGTERM/SIGINT and its drain; logging is configured here. False
    when it did not start (a port taken, a registration the gateway refused)."""
    configure_logging(settings.log_level, settings.log_format, service="agent", pool=settings.pool)
    setup_tracing("configurable-agents-agent")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE,
        # The drain already waited for tasks; this bounds closing the connections after it.
        timeout_graceful_shutdown=5,
    )
    log.info(
        "agent of pool %r serving %s, at most %d tasks at once",
        settings.pool or "-",
        ", ".join(settings.capabilities) or "any capability",
        settings.max_concurrent_tasks,
    )
    server = DrainingServer(config, app, settings.drain_timeout)
    server.run()
    return server.started and not server.refused
