"""The chat page (Gradio) served by the standalone UI process, as the sidecar runs it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.gateway.conftest import GatewayProcess
from tests.ui.conftest import UiProcess, Watched

#: Collects every text the last bot message had, so a test can see the answer grow.
RECORD_ANSWERS = """
window.__answers = [];
new MutationObserver(() => {
  const bots = document.querySelectorAll('.message.bot, [data-testid="bot"]');
  if (bots.length) {
    const text = bots[bots.length - 1].innerText;
    if (window.__answers[window.__answers.length - 1] !== text) window.__answers.push(text);
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""

#: Real browser and server processes: tens of seconds in all.
pytestmark = pytest.mark.slow


def test_chat_runs_the_chosen_workflow_and_streams_its_events(
    watched: Watched, ui_server: UiProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{ui_server.url}/chat/")
    workflow = page.get_by_label("Workflow")
    expect(workflow).not_to_have_value("")  # filled from the gateway's workflows on load
    workflow.click()
    page.get_by_role("option", name="default/echo-chat").click()
    expect(page.get_by_label("Message goes into input field")).to_have_value("message")
    page.evaluate(RECORD_ANSWERS)
    box = page.get_by_placeholder("Type a message and press Enter")
    box.fill("the tide is out")
    box.press("Enter")
    answer = page.locator('.message.bot, [data-testid="bot"]').last
    expect(answer).to_contain_text("You said: the tide is out", timeout=30_000)
    expect(answer).to_contain_text("think finished")
    seen: list[str] = page.evaluate("window.__answers")
    # Streamed: the answer was shown with the first step done and the reply still to come.
    partial = [t for t in seen if "think" in t and "You said" not in t]
    assert partial, seen
    page.screenshot(path=str(artifacts / "chat.png"), full_page=True)
    run_id = answer.locator("code").first.inner_text()
    assert run_id.startswith("run-")
    run = httpx.get(f"{ui_server.gateway_url}/v1/runs/{run_id}").json()
    assert run["input"] == {"message": "the tide is out"}
    assert run["status"] == "succeeded"


def test_serve_embeds_the_chat_page(gateway: GatewayProcess) -> None:
    """``serve`` mounts the chat too (built on its first request, so start-up stays fast)."""
    page = httpx.get(f"{gateway.url}/chat/", timeout=60)
    assert page.status_code == 200
    assert "gradio" in page.text.lower()
