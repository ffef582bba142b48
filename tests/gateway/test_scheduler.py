"""Schedules fired by the gateway on a clock the test moves: every concurrency policy, DST,
suspend, missed ticks, and two replicas (each with its own store connection) firing a tick once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from agent_runtime.engine import LocalDispatcher
from agent_runtime.gateway.app import serving
from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.scheduler import Scheduler
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.spec.trigger import Trigger
from agent_runtime.stores import RunRecord, RunStatus
from agent_runtime.stores.records import TriggeredBy

NAMESPACE, NAME = "team-a", "daily-report"
WHO = f"system:trigger:{NAMESPACE}:{NAME}"

WORKFLOW = {
    "apiVersion": "configurable-agents.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "report", "namespace": NAMESPACE},
    "spec": {
        "state": {"topic": {"type": "string"}, "draft": {"type": "string"}},
        "input": ["topic"],
        "output": ["draft"],
        "models": {"default": {"provider": "scripted"}},
        "nodes": [
            {"name": "write", "type": "llm", "prompt": "On {{ topic }}", "output": "draft"},
            {"name": "review", "type": "human", "output": {"draft": {"type": "string"}}},
        ],
        "edges": [
            {"from": "START", "to": "write"},
            {"from": "write", "to": "review"},
            {"from": "review", "to": "END"},
        ],
    },
}


def trigger(**schedule: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"workflow": "report", "input": {"topic": "daily"}}
    spec["suspend"] = schedule.pop("suspend", False)
    spec["schedule"] = {"schedule": "0 * * * *", **schedule}
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": spec,
    }


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


class TestClock:
    """Moves only when told; the scheduler's own loop looks once, then waits for ever."""

    __test__ = False

    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment

    async def sleep(self, seconds: float) -> None:
        await asyncio.Event().wait()


Replica = tuple[Scheduler, Gateway]
Start = Callable[..., AbstractAsyncContextManager[Replica]]


@pytest.fixture
def replica(tmp_path: Path, sqlite_url: str) -> Start:
    """A gateway (store, engine, worker, scheduler) serving the Workflow and one Trigger."""

    @asynccontextmanager
    async def start(
        clock: TestClock, doc: dict[str, Any], url: str = sqlite_url
    ) -> AsyncIterator[Replica]:
        folder = tmp_path / "served"
        folder.mkdir(exist_ok=True)
        (folder / "all.yaml").write_text(yaml.safe_dump_all([WORKFLOW, doc]), encoding="utf-8")
        catalog = Catalog()
        catalog.load_folder(folder)
        app = FastAPI()
        settings = GatewaySettings(store=url, poll_interval=0.05)
        async with serving(app, settings, catalog, LocalDispatcher(), clock=clock):
            yield app.state.scheduler, app.state.gateway

    return start


async def runs_of(gateway: Gateway) -> list[RunRecord]:
    page = await gateway.store.list_runs(namespaces=[NAMESPACE], created_by=WHO, limit=100)
    return page.items


async def settled(gateway: Gateway, run: RunRecord, status: RunStatus) -> RunRecord:
    for _ in range(200):
        run = await gateway.store.get_run(run.id)
        if run.status == status:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run.id} is {run.status}, not {status}")


async def seven_oclock_run(scheduler: Scheduler, gateway: Gateway, clock: TestClock) -> RunRecord:
    """The trigger first seen at 06:30 (the clock's start), its 07:00 run waiting at review."""
    await scheduler.fire_due()
    clock.moment = at(2026, 5, 1, 7, 0)
    [run] = await scheduler.fire_due()
    return await settled(gateway, run, RunStatus.INTERRUPTED)


async def test_a_tick_starts_one_run_owned_by_its_trigger(replica: Start) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with replica(clock, trigger()) as (scheduler, gateway):
        assert await scheduler.fire_due() == []  # no tick since the trigger was first seen
        clock.moment = at(2026, 5, 1, 7, 0, 5)
        [run] = await scheduler.fire_due()
        assert await scheduler.fire_due() == []  # the same tick: nothing more
        assert run.created_by is not None and run.created_by.username == WHO
        assert run.triggered_by == TriggeredBy(
            namespace=NAMESPACE, name=NAME, tick=at(2026, 5, 1, 7, 0)
        )
        assert run.input == {"topic": "daily"}
        assert await settled(gateway, run, RunStatus.INTERRUPTED)


async def test_allow_starts_a_run_while_another_is_active(replica: Start) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with replica(clock, trigger(concurrencyPolicy="Allow")) as (scheduler, gateway):
        first = await seven_oclock_run(scheduler, gateway, clock)
        clock.moment = at(2026, 5, 1, 8, 0)
        [second] = await scheduler.fire_due()
        assert second.id != first.id
        assert (await gateway.store.get_run(first.id)).status == RunStatus.INTERRUPTED


async def test_forbid_skips_while_a_run_is_active_then_fires_the_missed_tick(
    replica: Start,
) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with replica(clock, trigger(concurrencyPolicy="Forbid")) as (scheduler, gateway):
        first = await seven_oclock_run(scheduler, gateway, clock)
        clock.moment = at(2026, 5, 1, 8, 0)
        assert await scheduler.fire_due() == []
        await gateway.engine.cancel(first.id)
        clock.moment = at(2026, 5, 1, 8, 5)  # as a CronJob: the skipped tick, once it may
        [late] = await scheduler.fire_due()
        assert late.triggered_by is not None and late.triggered_by.tick == at(2026, 5, 1, 8, 0)
        assert len(await runs_of(gateway)) == 2


async def test_forbid_with_a_deadline_drops_a_tick_skipped_too_long(replica: Start) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    doc = trigger(concurrencyPolicy="Forbid", startingDeadlineSeconds=120)
    async with replica(clock, doc) as (scheduler, gateway):
        first = await seven_oclock_run(scheduler, gateway, clock)
        clock.moment = at(2026, 5, 1, 8, 0)
        assert await scheduler.fire_due() == []
        await gateway.engine.cancel(first.id)
        clock.moment = at(2026, 5, 1, 8, 5)
        assert await scheduler.fire_due() == []
        assert len(await runs_of(gateway)) == 1


async def test_replace_cancels_the_active_run_and_starts_the_new_one(replica: Start) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with replica(clock, trigger(concurrencyPolicy="Replace")) as (scheduler, gateway):
        first = await seven_oclock_run(scheduler, gateway, clock)
        clock.moment = at(2026, 5, 1, 8, 0)
        [second] = await scheduler.fire_due()
        cancelled = await gateway.store.get_run(first.id)
        assert cancelled.status == RunStatus.CANCELLED
        assert cancelled.cancelled_by is not None and cancelled.cancelled_by.username == WHO
        assert await settled(gateway, second, RunStatus.INTERRUPTED)


@pytest.mark.parametrize(("deadline", "caught_up"), [(300, False), (None, True)])
async def test_a_suspended_trigger_fires_nothing_and_resumes_as_a_cronjob(
    replica: Start, deadline: int | None, caught_up: bool
) -> None:
    clock = TestClock(at(2026, 5, 1, 6, 30))
    doc = trigger(suspend=True, **({"startingDeadlineSeconds": deadline} if deadline else {}))
    async with replica(clock, doc) as (scheduler, gateway):
        await scheduler.fire_due()
        for hour in (7, 8):
            clock.moment = at(2026, 5, 1, hour, 0)
            assert await scheduler.fire_due() == []
        [suspended] = gateway.catalog.triggers()
        spec = suspended.spec.model_copy(update={"suspend": False})
        gateway.catalog.put_trigger(suspended.model_copy(update={"spec": spec}))
        clock.moment = at(2026, 5, 1, 8, 10)  # 08:00 missed: caught up unless past its deadline
        late = [r.triggered_by.tick for r in await scheduler.fire_due() if r.triggered_by]
        assert late == ([at(2026, 5, 1, 8, 0)] if caught_up else [])
        clock.moment = at(2026, 5, 1, 9, 0, 30)
        [run] = await scheduler.fire_due()
        assert run.triggered_by is not None and run.triggered_by.tick == at(2026, 5, 1, 9, 0)


@pytest.mark.parametrize(
    ("deadline", "fired"),
    [(None, at(2026, 5, 1, 10, 0)), (600, None), (1800, at(2026, 5, 1, 10, 0))],
)
async def test_ticks_missed_while_every_gateway_was_down(
    replica: Start, deadline: int | None, fired: datetime | None
) -> None:
    doc = trigger() if deadline is None else trigger(startingDeadlineSeconds=deadline)
    clock = TestClock(at(2026, 5, 1, 6, 30))
    async with replica(clock, doc) as (scheduler, _):
        await scheduler.fire_due()  # first seen at 06:30
        clock.moment = at(2026, 5, 1, 7, 0)
        assert len(await scheduler.fire_due()) == 1
    clock = TestClock(at(2026, 5, 1, 10, 20))  # 08:00, 09:00 and 10:00 missed
    async with replica(clock, doc) as (scheduler, gateway):
        await scheduler.fire_due()  # (its own loop may have fired on starting: the same run)
        assert await scheduler.fire_due() == []
        ticks = sorted(r.triggered_by.tick for r in await runs_of(gateway) if r.triggered_by)
        assert ticks == [at(2026, 5, 1, 7, 0), *([fired] if fired else [])]


@pytest.mark.parametrize(
    ("seen", "moments", "ticks"),
    [  # 2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not exist that day
        (
            at(2026, 3, 28, 12, 0),
            [at(2026, 3, 29, 0, 59), at(2026, 3, 29, 1, 0), at(2026, 3, 29, 1, 30)],
            [at(2026, 3, 29, 1, 0)],
        ),
        # 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice, fires once
        (
            at(2026, 10, 24, 12, 0),
            [at(2026, 10, 25, 0, 30), at(2026, 10, 25, 1, 30), at(2026, 10, 25, 1, 45)],
            [at(2026, 10, 25, 0, 30)],
        ),
    ],
)
async def test_a_local_schedule_across_a_dst_change(
    replica: Start, seen: datetime, moments: list[datetime], ticks: list[datetime]
) -> None:
    clock = TestClock(seen)
    async with replica(clock, trigger(schedule="30 2 * * *", timeZone="Europe/Berlin")) as (
        scheduler,
        _,
    ):
        await scheduler.fire_due()
        fired = []
        for moment in moments:
            clock.moment = moment
            fired += [r.triggered_by.tick for r in await scheduler.fire_due() if r.triggered_by]
        assert fired == ticks


async def test_input_the_workflow_does_not_take_fires_nothing_and_names_the_field(
    replica: Start, caplog: pytest.LogCaptureFixture
) -> None:
    doc = trigger()
    doc["spec"]["input"] = {"topic": "daily", "colour": "red"}
    clock = TestClock(at(2026, 5, 1, 6, 30))
    said = "spec.input.colour: not an input of this workflow"
    with caplog.at_level(logging.WARNING, logger="agent_runtime.gateway.scheduler"):
        async with replica(clock, doc) as (scheduler, gateway):
            await scheduler.fire_due()
            assert said in caplog.text  # when the trigger is read, not at its first tick
            for hour in (7, 8):
                clock.moment = at(2026, 5, 1, hour, 0)
                assert await scheduler.fire_due() == []
            assert await runs_of(gateway) == []
    assert sum(said in r.getMessage() for r in caplog.records) == 1  # once, not every pass


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_replicas_fire_a_tick_once(
    replica: Start, request: pytest.FixtureRequest, sqlite_url: str, backend: str
) -> None:
    url = sqlite_url if backend == "sqlite" else request.getfixturevalue("postgres_url")
    clock = TestClock(at(2026, 5, 1, 6, 30))
    doc = trigger(concurrencyPolicy="Replace")
    async with replica(clock, doc, url) as (one, gateway), replica(clock, doc, url) as (two, _):
        assert one.gateway.store is not two.gateway.store
        await asyncio.gather(one.fire_due(), two.fire_due())  # both first see it at 06:30
        for hour in (7, 8):
            clock.moment = at(2026, 5, 1, hour, 0)
            a, b = await asyncio.gather(one.fire_due(), two.fire_due())
            # the second to look finds the tick fired (nothing), or creates the same run
            assert len({r.id for r in a + b}) == 1
        runs = await runs_of(gateway)
        ticks = sorted(r.triggered_by.tick for r in runs if r.triggered_by and r.triggered_by.tick)
        assert ticks == [at(2026, 5, 1, 7, 0), at(2026, 5, 1, 8, 0)]
        statuses = {r.triggered_by.tick: r.status for r in runs if r.triggered_by}
        assert statuses[at(2026, 5, 1, 7, 0)] == RunStatus.CANCELLED
        assert statuses[at(2026, 5, 1, 8, 0)] != RunStatus.CANCELLED


def test_the_trigger_of_a_folder_is_served(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(yaml.safe_dump_all([WORKFLOW, trigger()]), encoding="utf-8")
    catalog = Catalog()
    catalog.load_folder(tmp_path)
    [served] = catalog.triggers()
    assert isinstance(served, Trigger) and (served.namespace, served.name) == (NAMESPACE, NAME)
    assert catalog.get(NAMESPACE, "report") is not None
