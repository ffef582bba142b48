"""The budgets page in headless Chromium against a real gateway with namespace budgets: spend
against each limit, the limit reached named, and the nav link; a gateway without budgets says so."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import expect

from agent_runtime.stores import open_store
from agent_runtime.stores.records import utcnow
from tests.gateway.conftest import GatewayProcess
from tests.ui.conftest import Watched

pytestmark = pytest.mark.slow

POLICY = """\
budgets:
  onExceeded: pause
  prices: {"*": {input: 1, output: 1}}
  namespaces:
    default: {tokensPerDay: 1000, costPerMonth: 10}
    team-b: {tokensPerMonth: 100}
"""


async def _spend(url: str) -> None:
    async with open_store(url) as store:
        now = utcnow()
        await store.add_spend("default", tokens=250, cost=2.5, at=now)
        await store.add_spend("team-b", tokens=120, cost=0.0, at=now)


@pytest.fixture
def budget_gateway(tmp_path: Path, workflows_dir: Path) -> Iterator[GatewayProcess]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    with ThreadPoolExecutor(1) as thread:  # Playwright runs an event loop in this one
        thread.submit(asyncio.run, _spend(store)).result()
    env = {"CONFIGURABLE_AGENTS_POLICY_FILE": str(tmp_path / "policy.yaml")}
    started = GatewayProcess(store, tmp_path, workflows=workflows_dir, env=env)
    yield started
    started.kill(signal.SIGTERM)


def test_the_budgets_page_shows_spend_against_each_limit(
    watched: Watched, budget_gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{budget_gateway.url}/ui/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Budgets").click()
    expect(page.get_by_role("heading", name="Budgets")).to_be_visible()
    expect(page.get_by_role("link", name="Budgets")).to_have_attribute("aria-current", "page")
    expect(page.locator("main")).to_contain_text("pause for an approval")

    default = page.locator('tr[data-namespace="default"]')
    tokens_today = default.locator('td[data-limit="tokensPerDay"]')
    expect(tokens_today).to_contain_text("250 of 1,000")
    expect(tokens_today).to_contain_text("25%")
    expect(tokens_today.locator("meter")).to_have_attribute("value", "250.0")
    expect(default.locator('td[data-limit="costPerMonth"]')).to_contain_text("2.50 of 10.00")
    expect(default.locator('td[data-limit="tokensPerMonth"]')).to_contain_text("no limit")
    expect(default.locator(".state")).to_contain_text("within budget")

    team_b = page.locator('tr[data-namespace="team-b"]')
    expect(team_b.locator('td[data-limit="tokensPerMonth"]')).to_have_class("over")
    expect(team_b.locator(".state .badge")).to_have_text("over tokensPerMonth")
    expect(team_b.locator(".state")).to_contain_text(
        "namespace team-b is over its budget: tokensPerMonth 120 of 100"
    )
    page.screenshot(path=str(artifacts / "budgets.png"), full_page=True)


def test_without_budgets_the_page_says_so(watched: Watched, gateway: GatewayProcess) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/ui/budgets")
    expect(page.locator("#budgets-unset")).to_contain_text("sets no namespace budgets")
    expect(page.locator('tr[data-namespace="default"] .state')).to_contain_text("no budget")
