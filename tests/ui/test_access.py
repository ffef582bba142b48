"""Keyboard-only use, narrow screens, the standalone server, and errors of the gateway shown."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.gateway.conftest import GatewayProcess
from tests.processes import free_port
from tests.ui.conftest import UiProcess, Watched

PHONE = {"width": 375, "height": 740}

#: Real browser and server processes: tens of seconds in all.
pytestmark = pytest.mark.slow


def tab_to(page: Page, selector: str, *, limit: int = 40) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{selector} never got the focus after {limit} Tab presses")


def focus_ring(page: Page) -> str:
    return str(
        page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return s.outlineStyle + ' ' + s.outlineWidth; }"
        )
    )


def test_keyboard_only_start_a_run_and_approve_it(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/ui/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    tab_to(page, 'a[href$="/workflows/default/human-approval"]')
    assert focus_ring(page).startswith("solid"), focus_ring(page)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/workflows/default/human-approval$"))
    tab_to(page, "#input-topic")
    page.keyboard.type("keyboards")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Start run")).to_be_focused()
    assert focus_ring(page).startswith("solid"), focus_ring(page)
    page.keyboard.press("Enter")
    expect(page.locator("#run-status")).to_have_text("interrupted")
    tab_to(page, "#resume-approved")
    page.keyboard.press("Space")
    expect(page.locator("#resume-approved")).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.type("fine by me")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Answer and resume")).to_be_focused()
    page.screenshot(path=str(artifacts / "keyboard-resume-focus.png"))
    page.keyboard.press("Enter")
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-output")).to_contain_text("PUBLISHED")


@pytest.mark.parametrize("watched", [PHONE], indirect=True)
def test_pages_fit_a_narrow_screen(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        run_id = client.post(
            "/v1/workflows/default/linear-chain/runs",
            json={"input": {"topic": "a long topic " * 8}, "wait": True},
        ).json()["id"]
    page = watched.page
    for name, path in [
        ("narrow-workflows", "/ui/"),
        ("narrow-workflow", "/ui/workflows/default/parallel-fan-out"),
        ("narrow-runs", "/ui/runs"),
        ("narrow-run", f"/ui/runs/{run_id}"),
    ]:
        page.goto(f"{gateway.url}{path}")
        page.wait_for_load_state("networkidle")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{path} is {wide}px wide on a {PHONE['width']}px screen"
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_standalone_ui_serves_the_dashboard_for_a_gateway(
    watched: Watched, ui_server: UiProcess, gateway: GatewayProcess
) -> None:
    assert httpx.get(f"{ui_server.url}/healthz").json() == {"status": "ok"}
    page = watched.page
    page.goto(f"{ui_server.url}/")
    expect(page).to_have_url(f"{ui_server.url}/ui/")
    expect(page.locator('tr[data-workflow="default/linear-chain"] .badge')).to_have_text("Ready")
    expect(page.locator("footer")).to_contain_text(gateway.url)


def test_errors_of_the_gateway_are_shown_on_the_page(
    watched: Watched, gateway: GatewayProcess, tmp_path: Path, artifacts: Path
) -> None:
    page = watched.page
    missing = page.goto(f"{gateway.url}/ui/runs/run-doesnotexist")
    assert missing is not None and missing.status == 404
    expect(page.get_by_role("alert")).to_contain_text("run_not_found")
    page.goto(f"{gateway.url}/ui/workflows/default/broken")
    expect(page.get_by_role("button", name="Start run")).to_be_disabled()
    # A gateway that is not there: the standalone UI says so instead of failing blank.
    nowhere = UiProcess(f"http://127.0.0.1:{free_port()}", tmp_path, "--no-chat")
    try:
        answer = page.goto(f"{nowhere.url}/ui/")
        assert answer is not None and answer.status == 502
        expect(page.get_by_role("alert")).to_contain_text("gateway_unreachable")
        page.screenshot(path=str(artifacts / "gateway-unreachable.png"))
    finally:
        nowhere.stop()
