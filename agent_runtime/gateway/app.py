"""The gateway's FastAPI app: built by a factory, connected in its lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent_runtime import __version__
from agent_runtime.engine import Dispatcher, Engine, LocalDispatcher
from agent_runtime.gateway import errors
from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.routes import health, runs, workflows
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.gateway.state import Gateway
from agent_runtime.gateway.worker import RunWorker
from agent_runtime.stores import open_store


def make_dispatcher(settings: GatewaySettings) -> Dispatcher:
    if not settings.agents:
        return LocalDispatcher()
    from agent_runtime.engine.remote import HttpDispatcher, StaticEndpoints

    dispatcher: Dispatcher = HttpDispatcher(StaticEndpoints(settings.agents))
    return dispatcher


def create_app(settings: GatewaySettings, *, catalog: Catalog | None = None) -> FastAPI:
    catalog = catalog or Catalog()
    if settings.workflows is not None and catalog is not None:
        catalog.load_folder(settings.workflows)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dispatcher = make_dispatcher(settings)
        async with open_store(settings.store) as store:
            engine = Engine(
                store,
                dispatcher,
                owner=settings.owner,
                lease_ttl=settings.lease_ttl,
                wait_backoff=settings.wait_backoff,
            )
            worker = RunWorker(
                engine, concurrency=settings.concurrency, poll_interval=settings.poll_interval
            )
            gateway = Gateway(settings, store, engine, dispatcher, worker, catalog)
            worker.on_settled = gateway.notify
            app.state.gateway = gateway
            worker.start()
            try:
                yield
            finally:
                await worker.stop()
                await dispatcher.aclose()

    app = FastAPI(
        title="configurable-agents gateway",
        version=__version__,
        lifespan=lifespan,
        description="The Runs API: start, watch, resume and cancel workflow runs.",
    )
    errors.install(app)
    for module in (health, workflows, runs):
        app.include_router(module.router)
    return app
