"""Triggers in headless Chromium against a real gateway: the triggers page lists each Trigger
with its health (a Stalled one naming its field), last schedule, last success and active runs;
a run's page says what triggered it (schedule and tick, webhook and delivery, CloudEvent and id).

The store is seeded with the runs triggers made (as the scheduler and webhooks record them), so
nothing waits for a real minute to pass; the gateway reads the status from them as it starts.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect

from agent_runtime.spec import load_file
from agent_runtime.spec.workflow import Workflow
from agent_runtime.stores import RunRecord, RunStatus, open_store
from agent_runtime.stores.records import Actor, TriggeredBy
from tests.conftest import EXAMPLES
from tests.gateway.conftest import GatewayProcess
from tests.ui.conftest import Watched

pytestmark = pytest.mark.slow

#: The newest 07:00 UTC before now: the schedule's tick the seeded run fired for.
NOW = datetime.now(UTC).replace(microsecond=0)
TICK = NOW.replace(hour=7, minute=0, second=0)
TICK = TICK if TICK <= NOW else TICK - timedelta(days=1)
WHO = "system:trigger:default:morning"


def triggers() -> list[dict[str, object]]:
    morning = {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "morning"},
        "spec": {
            "workflow": "linear-chain",
            "input": {"topic": "news"},
            "schedule": {"schedule": "0 7 * * *", "concurrencyPolicy": "Forbid"},
        },
    }
    orphan = {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "orphan"},
        "spec": {"workflow": "nowhere", "suspend": True, "schedule": {"schedule": "@hourly"}},
    }
    return [morning, orphan]


def run_of(
    workflow: Workflow, run_id: str, by: TriggeredBy, status: RunStatus, at: datetime
) -> RunRecord:
    finished = status.finished
    return RunRecord(
        id=run_id,
        namespace="default",
        workflow=workflow.name,
        generation=workflow.metadata.generation,
        spec_hash=workflow.spec.content_hash(),
        spec=workflow.document,
        status=status,
        input={"topic": "news"},
        created_at=at,
        started_at=at,
        finished_at=at + timedelta(seconds=3) if finished else None,
        created_by=Actor(username=f"system:trigger:default:{by.name}", groups=["system:triggers"]),
        triggered_by=by,
    )


async def _seed(url: str, workflow: Workflow) -> None:
    schedule = TriggeredBy(namespace="default", name="morning", tick=TICK)
    earlier = TriggeredBy(namespace="default", name="morning", tick=TICK - timedelta(days=1))
    hook = TriggeredBy(namespace="default", name="hook", source="webhook", delivery="d-42")
    event = TriggeredBy(
        namespace="default", name="events", source="cloudevent", event_id="ev-7", event_source="/s"
    )
    async with open_store(url) as store:
        await store.create_run(
            run_of(workflow, "run-earlier", earlier, RunStatus.SUCCEEDED, TICK - timedelta(days=1))
        )
        await store.create_run(run_of(workflow, "run-tick", schedule, RunStatus.INTERRUPTED, TICK))
        await store.create_run(run_of(workflow, "run-hook", hook, RunStatus.SUCCEEDED, NOW))
        await store.create_run(run_of(workflow, "run-event", event, RunStatus.SUCCEEDED, NOW))


@pytest.fixture
def trigger_gateway(tmp_path: Path, workflows_dir: Path) -> Iterator[GatewayProcess]:
    folder = tmp_path / "served"
    folder.mkdir()
    source = EXAMPLES / "01-linear-chain" / "workflow.yaml"
    (folder / "workflow.yaml").write_text(source.read_text())
    (folder / "triggers.yaml").write_text(yaml.safe_dump_all(triggers()))
    [workflow] = [r for r in load_file(source) if isinstance(r, Workflow)]
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    with ThreadPoolExecutor(1) as thread:  # Playwright runs an event loop in this one
        thread.submit(asyncio.run, _seed(store, workflow)).result()
    started = GatewayProcess(store, tmp_path, workflows=folder)
    yield started
    started.kill(signal.SIGTERM)


def test_the_triggers_page_and_a_runs_trigger(
    watched: Watched, trigger_gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{trigger_gateway.url}/ui/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Triggers").click()
    expect(page.get_by_role("heading", name="Triggers")).to_be_visible()
    expect(page.get_by_role("link", name="Triggers")).to_have_attribute("aria-current", "page")

    morning = page.locator('tr[data-trigger="default/morning"]')
    expect(morning.locator(".fires")).to_contain_text("0 7 * * *")
    expect(morning.locator(".fires")).to_contain_text("UTC, Forbid")
    expect(morning.locator(".health .badge")).to_have_text("Ready: Scheduled")
    expect(morning.locator(".last-schedule")).to_have_text(f"{TICK:%Y-%m-%d %H:%M:%S} UTC")
    expect(morning.locator(".last-success")).to_contain_text(f"{TICK - timedelta(days=1):%Y-%m-%d}")
    expect(morning.locator(".active")).to_have_text("run-tick")

    orphan = page.locator('tr[data-trigger="default/orphan"]')
    expect(orphan.locator(".health .badge")).to_have_text("Stalled: WorkflowNotFound")
    expect(orphan.locator(".health .message")).to_contain_text(
        "spec.workflow: no Workflow 'nowhere'"
    )
    expect(orphan.locator(".fires")).to_contain_text("suspended")
    expect(orphan.locator(".active")).to_have_text("none")
    page.screenshot(path=str(artifacts / "triggers.png"), full_page=True)

    morning.locator(".active").get_by_role("link", name="run-tick").click()
    by = page.locator("#run-triggered-by")
    expect(by).to_have_attribute("data-source", "schedule")
    expect(by).to_contain_text("default/morning")
    expect(page.locator("#run-trigger-tick")).to_have_text(f"{TICK:%Y-%m-%d %H:%M:%S} UTC")

    page.goto(f"{trigger_gateway.url}/ui/runs/run-hook")
    expect(page.locator("#run-triggered-by")).to_have_attribute("data-source", "webhook")
    expect(page.locator("#run-trigger-delivery")).to_have_text("d-42")
    page.goto(f"{trigger_gateway.url}/ui/runs/run-event")
    expect(page.locator("#run-triggered-by")).to_contain_text("CloudEvent ev-7 from /s")
    page.goto(f"{trigger_gateway.url}/ui/runs/run-earlier")
    page.locator("#run-triggered-by").get_by_role("link", name="default/morning").click()
    expect(page.get_by_role("heading", name="Triggers")).to_be_visible()
