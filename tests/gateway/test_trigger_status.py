"""A Trigger's status (lastScheduleTime, active, lastSuccessfulTime) and its run history limits,
on a clock the test moves; ``GET /v1/triggers``; the trigger metrics.

The runs are real: a gateway's store, engine and worker execute them (a Workflow that finishes at
once, and one that waits at a human node until the test answers or cancels it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from prometheus_client import REGISTRY

from agent_runtime.engine import LocalDispatcher
from agent_runtime.gateway import errors
from agent_runtime.gateway.app import serving
from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.routes import triggers
from agent_runtime.gateway.scheduler import Scheduler
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.gateway.trigger_status import current
from agent_runtime.stores import RunRecord, RunStatus
from agent_runtime.stores.records import Actor
from tests.gateway.test_scheduler import NAME, NAMESPACE, WHO, WORKFLOW, TestClock, at, trigger

QUICK = {
    "apiVersion": "configurable-agents.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "quick", "namespace": NAMESPACE},
    "spec": {
        "state": {"topic": {"type": "string"}, "draft": {"type": "string"}},
        "input": ["topic"],
        "output": ["draft"],
        "models": {"default": {"provider": "scripted", "responses": ["done"]}},
        "nodes": [{"name": "write", "type": "llm", "prompt": "On {{ topic }}", "output": "draft"}],
        "edges": [{"from": "START", "to": "write"}, {"from": "write", "to": "END"}],
    },
}

Replica = tuple[Scheduler, Gateway, FastAPI]
Start = Callable[..., AbstractAsyncContextManager[Replica]]


@pytest.fixture
def gateway_with(tmp_path: Path) -> Start:
    """A gateway (store, engine, worker, scheduler, ``GET /v1/triggers``) serving documents."""

    @asynccontextmanager
    async def start(
        clock: TestClock, docs: list[dict[str, Any]], url: str
    ) -> AsyncIterator[Replica]:
        folder = tmp_path / "served"
        folder.mkdir(exist_ok=True)
        (folder / "all.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
        catalog = Catalog()
        catalog.load_folder(folder)
        app = FastAPI()
        errors.install(app)
        app.include_router(triggers.router)
        settings = GatewaySettings(store=url, poll_interval=0.05)
        async with serving(app, settings, catalog, LocalDispatcher(), clock=clock):
            yield app.state.scheduler, app.state.gateway, app

    return start


def quick(**schedule: Any) -> dict[str, Any]:
    doc = trigger(**schedule)
    doc["spec"]["workflow"] = "quick"
    return doc


async def until_status(gateway: Gateway, run: RunRecord, *statuses: RunStatus) -> RunRecord:
    for _ in range(300):
        run = await gateway.store.get_run(run.id)
        if run.status in statuses:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run.id} is {run.status}, not {statuses}")


def status_of(gateway: Gateway) -> dict[str, Any]:
    """The gateway's part of the served trigger's status (none written yet: empty)."""
    served = gateway.catalog.trigger(NAMESPACE, NAME)
    assert served is not None
    return current(served)


async def settled_status(scheduler: Scheduler, gateway: Gateway) -> dict[str, Any]:
    """The status once the refreshes runs stopping started are done."""
    await scheduler.drain()
    return status_of(gateway)


async def test_status_across_ticks_active_then_succeeded(
    gateway_with: Start, sqlite_url: str
) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with gateway_with(clock, [WORKFLOW, trigger()], sqlite_url) as (scheduler, gateway, _):
        await scheduler.fire_due()
        assert status_of(gateway) == {
            "lastScheduleTime": None,
            "lastSuccessfulTime": None,
            "active": [],
        }
        clock.moment = at(2026, 5, 1, 7, 0, 20)
        [first] = await scheduler.fire_due()
        assert status_of(gateway) == {
            "lastScheduleTime": "2026-05-01T07:00:00Z",
            "lastSuccessfulTime": None,
            "active": [{"runId": first.id}],
        }
        await until_status(gateway, first, RunStatus.INTERRUPTED)
        clock.moment = at(2026, 5, 1, 8, 0)
        [second] = await scheduler.fire_due()  # Allow: both active, oldest first
        assert status_of(gateway)["active"] == [{"runId": first.id}, {"runId": second.id}]
        assert status_of(gateway)["lastScheduleTime"] == "2026-05-01T08:00:00Z"
        done = await gateway.engine.resume(first.id, {"draft": "fine"})
        assert done.status == RunStatus.SUCCEEDED and done.finished_at is not None
        await scheduler.refresh(gateway.catalog.triggers()[0])
        assert status_of(gateway) == {
            "lastScheduleTime": "2026-05-01T08:00:00Z",
            "lastSuccessfulTime": done.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "active": [{"runId": second.id}],
        }


async def test_the_worker_finishing_a_run_refreshes_its_trigger(
    gateway_with: Start, sqlite_url: str
) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with gateway_with(clock, [QUICK, quick()], sqlite_url) as (scheduler, gateway, _):
        await scheduler.fire_due()
        clock.moment = at(2026, 5, 1, 7, 0)
        [run] = await scheduler.fire_due()
        done = await until_status(gateway, run, RunStatus.SUCCEEDED)
        assert done.finished_at is not None
        for _ in range(100):  # no call to refresh: the worker's run stopping did it
            if (await settled_status(scheduler, gateway))["active"] == []:
                break
            await asyncio.sleep(0.02)
        assert status_of(gateway) == {
            "lastScheduleTime": "2026-05-01T07:00:00Z",
            "lastSuccessfulTime": done.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "active": [],
        }


async def test_history_limits_erase_only_the_triggers_oldest_finished_runs(
    gateway_with: Start, store_url: str
) -> None:
    """Two succeeded runs kept of five; of the cancelled (Replace), one; the active run, and a
    run a person started, are never erased."""
    clock = TestClock(at(2026, 5, 1, 6, 30))
    schedules = [
        quick(successfulRunsHistoryLimit=2),
        {**trigger(concurrencyPolicy="Replace", failedRunsHistoryLimit=1)},
    ]
    schedules[1]["metadata"] = {"name": "review-daily", "namespace": NAMESPACE}
    docs = [QUICK, WORKFLOW, *schedules]
    async with gateway_with(clock, docs, store_url) as (scheduler, gateway, _):
        entry = gateway.catalog.get(NAMESPACE, "quick")
        assert entry is not None and entry.workflow is not None
        by_hand = await gateway.engine.create_run(
            entry.workflow, {"topic": "mine"}, created_by=Actor(username="alice")
        )
        await scheduler.fire_due()
        quick_runs: list[RunRecord] = []
        review_runs: list[RunRecord] = []
        for hour in range(7, 12):
            clock.moment = at(2026, 5, 1, hour, 0)
            for run in await scheduler.fire_due():
                assert run.triggered_by is not None
                if run.triggered_by.name == NAME:
                    quick_runs.append(await until_status(gateway, run, RunStatus.SUCCEEDED))
                else:
                    review_runs.append(await until_status(gateway, run, RunStatus.INTERRUPTED))
        await until_status(gateway, by_hand, RunStatus.SUCCEEDED)
        await scheduler.drain()
        for served in gateway.catalog.triggers():
            await scheduler.refresh(served)
        left = {r.id for r in (await gateway.store.list_runs(limit=100)).items}
        assert len(quick_runs) == len(review_runs) == 5
        # the two newest succeeded; the newest cancelled and the active one; alice's
        assert left == {
            *(r.id for r in quick_runs[-2:]),
            review_runs[-2].id,
            review_runs[-1].id,
            by_hand.id,
        }
        assert (await gateway.store.get_run(review_runs[-1].id)).status == RunStatus.INTERRUPTED
        # the newest tick is still known (its run kept), and no erased tick fires again
        clock.moment = at(2026, 5, 1, 11, 30)
        assert await scheduler.fire_due() == []


async def test_a_limit_of_zero_erases_every_finished_run_and_the_tick_stays_fired(
    gateway_with: Start, sqlite_url: str
) -> None:
    """With nothing kept, the status' lastScheduleTime is what remembers the tick: a gateway
    started afresh (no memory) does not fire it again."""
    doc = quick(successfulRunsHistoryLimit=0)
    doc["metadata"]["creationTimestamp"] = "2026-05-01T06:00:00Z"  # as a cluster's would carry
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with gateway_with(clock, [QUICK, doc], sqlite_url) as (scheduler, gateway, _):
        await scheduler.fire_due()
        clock.moment = at(2026, 5, 1, 7, 0)
        assert len(await scheduler.fire_due()) == 1
        for _ in range(300):  # succeeded, then erased when the worker's refresh prunes
            if not (await gateway.store.list_runs()).items:
                break
            await asyncio.sleep(0.02)
        await scheduler.drain()
        assert (await gateway.store.list_runs()).items == []
        status = status_of(gateway)
        assert status["lastScheduleTime"] == "2026-05-01T07:00:00Z"
        assert status["lastSuccessfulTime"] is not None
    # a new gateway given the status the cluster keeps (the watch brings it with the object)
    clock = TestClock(at(2026, 5, 1, 7, 10))
    async with gateway_with(clock, [QUICK, doc], sqlite_url) as (scheduler, gateway, _):
        gateway.catalog.set_trigger_status(NAMESPACE, NAME, status)
        assert await scheduler.fire_due() == []
        assert (await gateway.store.list_runs()).items == []


async def test_the_api_lists_triggers_with_status_and_conditions(
    gateway_with: Start, sqlite_url: str
) -> None:
    bad = trigger()
    bad["metadata"] = {"name": "colour", "namespace": NAMESPACE}
    bad["spec"]["input"] = {"topic": "x", "colour": "red"}
    missing = trigger(suspend=True)
    missing["metadata"] = {"name": "orphan", "namespace": NAMESPACE}
    missing["spec"]["workflow"] = "nowhere"
    paused = trigger(suspend=True)
    paused["metadata"] = {"name": "paused", "namespace": NAMESPACE}
    docs = [WORKFLOW, trigger(), bad, missing, paused]
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with gateway_with(clock, docs, sqlite_url) as (scheduler, _, app):
        await scheduler.fire_due()
        clock.moment = at(2026, 5, 1, 7, 0)
        [run] = await scheduler.fire_due()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            answer = await client.get("/v1/triggers")
        assert answer.status_code == 200
        items = {i["name"]: i for i in answer.json()["items"]}
        assert set(items) == {NAME, "colour", "orphan", "paused"}
        daily = items[NAME]
        assert daily["workflow"] == "report" and daily["suspend"] is False
        assert daily["spec"]["schedule"]["schedule"] == "0 * * * *"
        assert daily["status"]["lastScheduleTime"] == "2026-05-01T07:00:00Z"
        assert daily["status"]["active"] == [{"runId": run.id}]

        def true(item: dict[str, Any]) -> tuple[str, str, str]:
            [c] = [c for c in item["status"]["conditions"] if c["status"] == "True"]
            return c["type"], c["reason"], c["message"]

        assert true(daily)[:2] == ("Ready", "Scheduled")
        assert true(items["paused"])[:2] == ("Ready", "Suspended")
        kind, reason, message = true(items["colour"])
        assert (kind, reason) == ("Stalled", "InvalidInput")
        assert message.startswith("spec.input.colour: not an input of this workflow")
        kind, reason, message = true(items["orphan"])
        assert (kind, reason) == ("Stalled", "WorkflowNotFound")
        assert message.startswith("spec.workflow: ")


async def test_trigger_metrics_count_a_tick_once_across_replicas(
    gateway_with: Start, sqlite_url: str
) -> None:
    labels = {"namespace": NAMESPACE, "trigger": NAME, "source": "schedule"}

    def started() -> float:
        return REGISTRY.get_sample_value("configurable_agents_trigger_runs_total", labels) or 0.0

    before = started()
    clock = TestClock(at(2026, 5, 1, 6, 30))
    docs = [WORKFLOW, trigger()]
    async with (
        gateway_with(clock, docs, sqlite_url) as (one, _, _),
        gateway_with(clock, docs, sqlite_url) as (two, gateway, _),
    ):
        await asyncio.gather(one.fire_due(), two.fire_due())
        clock.moment = at(2026, 5, 1, 7, 0)
        await asyncio.gather(one.fire_due(), two.fire_due())
        assert started() == before + 1
        runs = (await gateway.store.list_runs(created_by=WHO)).items
        assert len(runs) == 1
        gauge = {"namespace": NAMESPACE, "trigger": NAME}
        assert REGISTRY.get_sample_value("configurable_agents_trigger_active_runs", gauge) == 1
        last = REGISTRY.get_sample_value(
            "configurable_agents_trigger_last_schedule_timestamp_seconds", gauge
        )
        assert last == at(2026, 5, 1, 7, 0).timestamp()
        # a trigger no longer served (deleted): its series go
        for replica, served in ((one, one.gateway), (two, gateway)):
            served.catalog.remove_trigger(NAMESPACE, NAME)
            await replica.fire_due()
        assert REGISTRY.get_sample_value("configurable_agents_trigger_active_runs", gauge) is None


@pytest.mark.parametrize(
    ("policy", "last", "active"),
    [
        # both ticks' runs wait at review, oldest first
        ("Allow", "2026-05-01T08:00:00Z", ["07", "08"]),
        # 08:00 skipped while the 07:00 run waits: the newest tick fired is still 07:00
        ("Forbid", "2026-05-01T07:00:00Z", ["07"]),
        # the 07:00 run cancelled for the 08:00 one
        ("Replace", "2026-05-01T08:00:00Z", ["08"]),
    ],
)
async def test_status_across_ticks_under_each_policy(
    gateway_with: Start, sqlite_url: str, policy: str, last: str, active: list[str]
) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    doc = trigger(concurrencyPolicy=policy)
    async with gateway_with(clock, [WORKFLOW, doc], sqlite_url) as (scheduler, gateway, _):
        await scheduler.fire_due()
        runs: dict[str, RunRecord] = {}
        for hour in (7, 8):
            clock.moment = at(2026, 5, 1, hour, 0)
            for run in await scheduler.fire_due():
                runs[f"{hour:02}"] = await until_status(gateway, run, RunStatus.INTERRUPTED)
        await scheduler.drain()
        await scheduler.refresh(gateway.catalog.triggers()[0])
        assert status_of(gateway) == {
            "lastScheduleTime": last,
            "lastSuccessfulTime": None,
            "active": [{"runId": runs[key].id} for key in active],
        }
