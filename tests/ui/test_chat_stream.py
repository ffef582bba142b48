"""The chat page in headless Chromium: 20 turns of one conversation on one thread, each answer
seen growing word by word before the whole of it, and the run page showing an answer as it is
written."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.gateway.conftest import GatewayProcess
from tests.gateway.test_streamed_conversation import TALK, said, talk_folder
from tests.ui.conftest import Watched
from tests.ui.test_chat import RECORD_ANSWERS

pytestmark = pytest.mark.slow

#: The same, writing slowly: a run page opened mid-answer sees it grow.
SLOW_TALK = TALK.format(model="{provider: scripted, delay: 3s}").replace(
    "name: talk", "name: slow-talk"
)


@pytest.fixture(scope="module")
def talking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway (chat page and dashboard embedded) writing an event per 10 ms of text."""
    workdir = tmp_path_factory.mktemp("chat-stream")
    folder = talk_folder(workdir / "workflows")
    (folder / "slow-talk.yaml").write_text(SLOW_TALK)
    started = GatewayProcess(
        f"sqlite:///{workdir / 'runs.db'}",
        workdir,
        workflows=folder,
        env={"CONFIGURABLE_AGENTS_DELTA_INTERVAL": "0.01"},
    )
    yield started
    started.kill(signal.SIGTERM)


def test_twenty_turns_on_one_thread_stream_into_the_chat(
    watched: Watched, talking: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{talking.url}/chat/", timeout=60_000)
    workflow = page.get_by_label("Workflow")
    expect(workflow).not_to_have_value("", timeout=60_000)
    workflow.click()
    page.get_by_role("option", name="default/talk", exact=True).click()
    expect(page.get_by_label("Message goes into input field")).to_have_value("messages")
    expect(page.get_by_placeholder("Type a message and press Enter")).to_be_visible()
    box = page.locator("textarea").last  # its placeholder goes once the chat has messages
    runs: list[str] = []
    for turn in range(20):
        page.evaluate(RECORD_ANSWERS)
        box.fill(said(turn))
        box.press("Enter")
        answer = page.locator('.message.bot, [data-testid="bot"]').last
        expect(answer).to_contain_text("reply finished", timeout=30_000)
        expect(answer).to_contain_text(said(turn))
        seen: list[str] = page.evaluate("window.__answers")
        partial = [t for t in seen if f"turn {turn}:" in t and said(turn) not in t]
        assert partial, f"turn {turn}: no partial answer among {seen}"
        runs.append(answer.locator("code").first.inner_text())
    page.screenshot(path=str(artifacts / "chat-stream.png"), full_page=True)

    with httpx.Client(base_url=talking.url, timeout=30) as http:
        shown = [http.get(f"/v1/runs/{run_id}").json() for run_id in runs]
        threads = {run["threadId"] for run in shown}
        assert len(threads) == 1 and None not in threads, "every turn on the one thread"
        thread = http.get(f"/v1/threads/{threads.pop()}").json()
    conversation = [(m["role"], m["content"]) for m in thread["values"]["messages"]]
    assert conversation == [(role, said(t)) for t in range(20) for role in ("user", "assistant")]


def test_the_run_page_shows_an_answer_as_it_is_written(
    watched: Watched, talking: GatewayProcess
) -> None:
    with httpx.Client(base_url=talking.url, timeout=30) as http:
        run = http.post(
            "/v1/workflows/default/slow-talk/runs",
            json={"input": {"messages": [{"role": "user", "content": said(99)}]}},
        ).json()
    page = watched.page
    page.goto(f"{talking.url}/ui/runs/{run['id']}")
    writing = page.locator("[data-writing]")
    expect(writing).to_contain_text("turn 99:", timeout=20_000)
    partial = writing.inner_text()
    assert said(99) not in partial, "seen while it was being written"
    bubble = page.locator('.conversation [data-role="assistant"]')
    expect(bubble).to_contain_text(said(99), timeout=20_000)
    expect(writing).to_have_count(0)
