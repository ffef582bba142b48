"""The dashboard in headless Chromium against a real gateway: workflows, runs, live run pages."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.conftest import GatewayProcess
from tests.ui.conftest import Watched

#: Real browser and server processes: tens of seconds in all.
pytestmark = pytest.mark.slow


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def start_from_form(page: Page, gateway: GatewayProcess, workflow: str, **fields: str) -> str:
    page.goto(f"{gateway.url}/ui/workflows/default/{workflow}")
    for name, value in fields.items():
        page.get_by_label(name, exact=False).first.fill(value)
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url(re.compile(r"/ui/runs/run-[0-9a-f]+$"))
    return page.url.rsplit("/", 1)[1]


def test_workflows_page_shows_ready_state_and_capabilities(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/")  # redirects to the dashboard
    expect(page).to_have_url(f"{gateway.url}/ui/")
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    row = page.locator('tr[data-workflow="default/linear-chain"]')
    expect(row.locator(".badge")).to_have_text("Ready")
    expect(row).to_contain_text("web-research")
    expect(row).to_contain_text("llm")
    broken = page.locator('tr[data-workflow="default/broken"]')
    expect(broken.locator(".badge")).to_have_text("Not ready")
    expect(broken).to_contain_text("unknown node 'nowhere'")
    shot(page, artifacts, "workflows")


def test_workflow_page_draws_the_graph_from_mermaid(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/ui/workflows/default/human-approval")
    graph = page.locator("pre.mermaid svg")
    expect(graph).to_be_visible()
    for node in ("draft", "review", "publish"):
        expect(graph).to_contain_text(node)
    expect(graph).to_contain_text("state.approved")  # a branch label
    shot(page, artifacts, "workflow-graph")


def test_start_a_run_from_the_form_and_watch_it_finish_live(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    start_from_form(page, gateway, "slow-chain", topic="tidal power")
    page.evaluate("window.__sameDocument = true")
    status = page.locator("#run-status")
    # Live: the first step is shown finished while the run still runs, without reloading.
    expect(page.locator('tr[data-node="gather"][data-status="succeeded"]')).to_be_visible()
    assert status.inner_text() in ("running", "queued"), status.inner_text()
    expect(page.locator('tr[data-node="think"]')).to_be_visible()
    shot(page, artifacts, "run-live")
    expect(status).to_have_text("succeeded", timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True
    for node in ("gather", "think", "answer"):
        expect(page.locator(f'tr[data-node="{node}"] .badge')).to_have_text("succeeded")
    # State after each step, folded with the declared reducer (notes: append).
    state = page.locator('tr[data-state-of="think"] pre')
    page.locator('tr[data-state-of="think"] summary').click()
    expect(state).to_contain_text("notes on tidal power")
    expect(state).to_contain_text("thinking about tidal power")
    expect(page.locator("#run-output")).to_contain_text("Answer on tidal power from 2 notes")
    tokens = page.locator("#run-tokens").inner_text()
    assert re.match(r"[1-9]\d* in, [1-9]\d* out", tokens), tokens
    shot(page, artifacts, "run-succeeded")


def test_inputs_of_each_type_are_parsed_and_bad_ones_named(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/ui/workflows/default/typed-inputs")
    page.get_by_label("text").fill("hello")
    page.get_by_label("count").fill("2.5")  # not an integer
    page.get_by_label("ratio").fill("0.25")
    page.get_by_label("tags").fill("red\nblue")
    page.get_by_label("extra").fill('{"k": "v"}')
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#error")).to_contain_text("input.count: expected an integer")
    expect(page.get_by_label("count")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("tags")).to_have_value("red\nblue")  # what was typed is kept
    shot(page, artifacts, "run-form-error")
    page.get_by_label("count").fill("41")
    page.get_by_label("loud").check()
    page.get_by_label("tone").select_option("formal")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-output")).to_contain_text(
        "text=hello count=42 ratio=0.5 loud=True tags=red+blue extra=v tone=formal"
    )


def test_approve_an_interrupted_run_from_the_page(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    start_from_form(page, gateway, "human-approval", topic="leases")
    expect(page.locator("#run-status")).to_have_text("interrupted")
    expect(page.locator("#resume")).to_contain_text("Approve this brief? Leases let another")
    shot(page, artifacts, "run-interrupted")
    page.get_by_label("approved").check()
    page.get_by_label("feedback").fill("ship it")
    page.get_by_role("button", name="Answer and resume").click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-output")).to_contain_text("PUBLISHED: Leases let another gateway")
    expect(page.locator('tr[data-node="review"] .badge')).to_have_text("succeeded")
    page.locator('tr[data-state-of="review"] summary').click()
    expect(page.locator('tr[data-state-of="review"] pre')).to_contain_text('"feedback": "ship it"')
    shot(page, artifacts, "run-approved")


def test_a_failed_run_shows_its_error_and_retries(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    start_from_form(page, gateway, "calculator", expression="1 +")
    expect(page.locator("#run-status")).to_have_text("failed")
    expect(page.locator("#run-error")).to_contain_text("not an arithmetic expression: '1 +'")
    expect(page.locator('tr[data-node="evaluate"][data-attempt="1"] .badge')).to_have_text(
        "retrying"
    )
    expect(page.locator('tr[data-node="evaluate"][data-attempt="2"] .badge')).to_have_text("failed")
    expect(page.locator("#run-retries")).to_have_text("1")
    shot(page, artifacts, "run-failed")


def test_cancel_a_running_run(watched: Watched, gateway: GatewayProcess) -> None:
    page = watched.page
    start_from_form(page, gateway, "slow-chain", topic="cancel me")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)


def test_runs_list_filters_and_pages(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        made = [
            client.post(
                "/v1/workflows/default/tool-agent/runs",
                json={"input": {"question": f"q{i}"}, "wait": True},
            ).json()["id"]
            for i in range(3)
        ]
    page = watched.page
    page.goto(f"{gateway.url}/ui/runs?limit=2")
    page.get_by_label("Workflow").select_option("default/tool-agent")
    expect(page).to_have_url(re.compile(r"workflow=default%2Ftool-agent"))
    rows = page.locator("#runs-results tr[data-run]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("default/tool-agent")
    first_page = rows.evaluate_all("rows => rows.map(r => r.dataset.run)")
    assert first_page == [made[2], made[1]]  # newest first
    shot(page, artifacts, "runs")
    page.get_by_role("link", name="Older runs").click()
    expect(rows.first).not_to_have_attribute("data-run", made[2])
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.run)")[0] == made[0]
    page.get_by_label("Status").select_option("failed")
    expect(page.locator("#runs-results")).to_contain_text("No runs.")
    page.get_by_label("Status").select_option("succeeded")
    expect(rows).to_have_count(2)
