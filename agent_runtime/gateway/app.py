"""The gateway's FastAPI app: built by a factory, connected in its lifespan, never at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from cachetools import TTLCache
from fastapi import FastAPI

from agent_runtime import __version__
from agent_runtime.engine import Dispatcher, Engine, LocalDispatcher
from agent_runtime.engine.budgets import NamespaceBudgets
from agent_runtime.executors import TaskExecutor
from agent_runtime.gateway import (
    a2a_server,
    errors,
    events,
    gauges,
    langgraph,
    mcp_server,
    openai_api,
)
from agent_runtime.gateway.access import Access
from agent_runtime.gateway.admission import Admission
from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.cluster import ClusterTriggers, ClusterWorkflows
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.members import LeaseMembers, MemberStore, MemoryMembers, WithMembers
from agent_runtime.gateway.origins import SameOriginWrites
from agent_runtime.gateway.pull import PullQueues
from agent_runtime.gateway.registry import EndpointRegistry
from agent_runtime.gateway.routes import (
    budgets,
    health,
    members,
    queue,
    runs,
    threads,
    triggers,
    webhooks,
    workflows,
)
from agent_runtime.gateway.scheduler import Clock, Scheduler, SystemClock
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.gateway.trace_context import CallerTrace
from agent_runtime.gateway.trigger_status import ClusterStatus, StatusWriter
from agent_runtime.gateway.watches import NamespacedWatches
from agent_runtime.gateway.webhooks import WebhookKeySource
from agent_runtime.gateway.worker import RunWorker
from agent_runtime.kube import KubeClient
from agent_runtime.policy import ToolPolicy
from agent_runtime.stores import RunRecord, StoreError, open_store
from agent_runtime.telemetry.metrics import BudgetMetrics

log = logging.getLogger(__name__)


def make_dispatcher(
    settings: GatewaySettings,
    registry: EndpointRegistry | None,
    policy: ToolPolicy,
    *,
    members: MemberStore | None = None,
    pulls: PullQueues | None = None,
) -> Dispatcher:
    """Agents from the cluster's registry, from a fixed list, or in this process (whose tools
    run under ``policy``); with ``members``, external agents join the same list (one balancing
    rule), and ``pulls`` hands tasks to those that pull them."""
    if registry is None and not settings.agents:
        return LocalDispatcher(TaskExecutor(policy=policy))
    from agent_runtime.engine.remote import EndpointSource, HttpDispatcher, StaticEndpoints

    source: EndpointSource = StaticEndpoints(settings.agents) if settings.agents else registry  # type: ignore[assignment]
    if members is not None:
        source = WithMembers(source, members)
    tokens = settings.task_tokens()
    dispatcher: Dispatcher = HttpDispatcher(
        source,
        credentials=tokens.headers if tokens is not None else None,
        handoff=pulls.handoff if pulls is not None else None,
    )
    return dispatcher


@asynccontextmanager
async def serving(
    app: FastAPI,
    settings: GatewaySettings,
    catalog: Catalog,
    dispatcher: Dispatcher,
    *,
    watches: Sequence[NamespacedWatches] = (),
    access: Access | None = None,
    clock: Clock | None = None,
    status_writer: StatusWriter | None = None,
    external: MemberStore | None = None,
    pulls: PullQueues | None = None,
    pools: Callable[[str, str], Awaitable[dict[str, Any] | None]] | None = None,
) -> AsyncIterator[None]:
    """The store, the engine, the workers and the scheduler of one gateway, for the app's
    lifetime (``clock``: the scheduler's, a test's own; ``status_writer``: where Triggers'
    status goes, the catalog alone when None)."""
    gauges.declare()
    async with open_store(settings.store) as store:
        policy = settings.budget_policy()
        namespace_budgets = NamespaceBudgets(store, policy, BudgetMetrics.for_registry())
        engine = Engine(
            store,
            dispatcher,
            owner=settings.owner,
            lease_ttl=settings.lease_ttl,
            wait_backoff=settings.wait_backoff,
            budgets=namespace_budgets if policy is not None else None,  # none: nothing to count
            delta_interval=settings.delta_interval if settings.stream_tokens else None,
            listeners=[events.BELL.ring],  # followers here read a run's events as written
        )
        if settings.namespace_max_in_flight and not store.caps_namespaces:
            raise StoreError(
                f"namespace_max_in_flight: {store.url.split(':')[0]} stores cannot cap"
            )
        worker = RunWorker(
            engine,
            concurrency=settings.concurrency,
            poll_interval=settings.poll_interval,
            max_per_namespace=settings.namespace_max_in_flight,
        )
        gateway = Gateway(
            settings,
            store,
            engine,
            dispatcher,
            worker,
            catalog,
            Admission(settings, store),
            access=access or Access(),
            budgets=namespace_budgets,
            watches=list(watches),
            members=external,
            pulls=pulls,
            pools=pools,
        )
        app.state.gateway = gateway
        app.state.scheduler = scheduler = Scheduler(
            gateway, clock=clock or SystemClock(), writer=status_writer
        )

        def settled(run_id: str, run: RunRecord | None) -> None:
            gateway.notify(run_id, run)
            scheduler.settled(run_id, run)

        worker.on_settled = settled
        worker.start()
        scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await worker.stop()
            await dispatcher.aclose()


#: Seconds an AgentPool read for its external members is kept: every member's heartbeat (a
#: third of its TTL) asks, and a change of ``spec.external`` is seen within this.
POOL_READ_TTL = 5.0


def _pool_reader(client: KubeClient) -> Callable[[str, str], Awaitable[dict[str, Any] | None]]:
    """The AgentPool an external member joins, read from the API server at most once per
    ``POOL_READ_TTL`` per pool (found or not), however many members' heartbeats ask."""
    read: TTLCache[tuple[str, str], dict[str, Any] | None] = TTLCache(1024, POOL_READ_TTL)

    async def pool(namespace: str, name: str) -> dict[str, Any] | None:
        key = (namespace, name)
        if key not in read:
            read[key] = await client.get(
                "configurable-agents.io/v1alpha1", "AgentPool", namespace, name
            )
        return read[key]

    return pool


def create_app(settings: GatewaySettings, *, catalog: Catalog | None = None) -> FastAPI:
    policy = settings.tool_policy()  # read once: the catalog and in-process tools share it
    served = catalog or Catalog(policy=policy)
    if settings.workflows is not None:
        served.load_folder(settings.workflows)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            registry = None
            watches: list[NamespacedWatches] = []
            client = None
            if settings.kubernetes or settings.auth:
                client = KubeClient()
                stack.push_async_callback(client.aclose)
            access = Access.from_settings(settings, client)
            # webhook keys: a cluster's from Secrets in each Trigger's namespace, else the
            # environment's (routes/webhooks.py)
            app.state.webhook_keys = WebhookKeySource(client if settings.kubernetes else None)
            stack.push_async_callback(access.aclose)
            if settings.insecure_no_auth:
                log.warning(
                    "authentication is off (--insecure-no-auth): anyone who reaches this "
                    "gateway may run, read, resume and cancel every run"
                )
            writer: StatusWriter | None = None
            if client is not None and settings.kubernetes:
                namespaces = settings.served_namespaces
                registry = EndpointRegistry(client, namespaces=namespaces)
                watched = ClusterWorkflows(client, served, namespaces=namespaces)
                scheduled = ClusterTriggers(client, served, namespaces=namespaces)
                for part in (registry, watched, scheduled):
                    part.start()
                    stack.push_async_callback(part.stop)
                watches += [registry.watches, watched.watches, scheduled.watches]
                writer = ClusterStatus(served, client)
            external: MemberStore | None = None
            pools = None
            if client is not None and settings.kubernetes:
                external = LeaseMembers(client, namespaces=settings.served_namespaces)
                external.start()
                stack.push_async_callback(external.stop)
                watches.append(external.watches)
                pools = _pool_reader(client)
            elif settings.agents:
                external = MemoryMembers()
            pulls = PullQueues(external) if external is not None else None
            dispatcher = make_dispatcher(settings, registry, policy, members=external, pulls=pulls)
            async with serving(
                app,
                settings,
                served,
                dispatcher,
                watches=watches,
                access=access,
                status_writer=writer,
                external=external,
                pulls=pulls,
                pools=pools,
            ):
                yield

    app = FastAPI(
        title="configurable-agents gateway",
        version=__version__,
        lifespan=lifespan,
        description="The Runs API: start, watch, resume and cancel workflow runs.",
    )
    errors.install(app)
    app.add_middleware(SameOriginWrites)
    app.add_middleware(CallerTrace)
    for module in (
        health,
        workflows,
        runs,
        threads,
        budgets,
        webhooks,
        triggers,
        queue,
        members,
        langgraph,
        openai_api,
        mcp_server,
        a2a_server,
    ):
        app.include_router(module.router)
    return app
