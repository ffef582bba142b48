"""The dashboard and the chat act as the signed-in user: every gateway call carries exactly the
page request's own ``Authorization`` header (as a sign-in proxy such as oauth2-proxy passes it),
never another user's, never a credential of their own, never a cookie the gateway set.

A real ``configurable-agents ui`` process in front of a recording stand-in gateway (a real HTTP
server, see ``recording_gateway``), driven over HTTP and in headless Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.ui.conftest import UiProcess, Watched, watching
from tests.ui.recording_gateway import ALICE, BOB, CHALLENGE, EXPIRED, USERS, RecordingGateway
from tests.ui.test_headers import assert_protected

#: Real server processes and a browser: some seconds in all.
pytestmark = pytest.mark.slow

TOKEN = re.compile(r'name="csrf-token" value="([0-9a-f]{64})"')


@pytest.fixture(scope="module")
def recording() -> Iterator[RecordingGateway]:
    with RecordingGateway() as started:
        yield started


@pytest.fixture(scope="module")
def dashboard(
    recording: RecordingGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiProcess]:
    started = UiProcess(recording.url, tmp_path_factory.mktemp("ui-credentials"), "--no-chat")
    yield started
    started.stop()


@pytest.fixture
def gateway(recording: RecordingGateway) -> RecordingGateway:
    """The stand-in gateway, with what earlier tests sent forgotten."""
    recording.forget()
    return recording


def browser_of(dashboard: UiProcess, authorization: str | None) -> httpx.Client:
    """A browser behind the sign-in proxy: the proxy adds ``authorization`` to each request."""
    headers = {"Authorization": authorization} if authorization else {}
    return httpx.Client(base_url=dashboard.url, headers=headers, timeout=30)


def shows_only(text: str, user: str) -> None:
    other = next(u for u in USERS.values() if u != user)
    assert re.search(rf"(visible to |topic of |hello |run-){user}\b", text), text[:3000]
    for mark in (f"visible to {other}", f"topic of {other}", f"hello {other}", f"run-{other}-"):
        assert mark not in text, f"{user}'s page shows {other}'s data"


def test_every_call_carries_exactly_the_callers_header(
    gateway: RecordingGateway, dashboard: UiProcess
) -> None:
    with browser_of(dashboard, ALICE) as alice:
        for path in ("/ui/", "/ui/runs", "/ui/workflows/default/greet", "/ui/runs/run-alice-1"):
            page = alice.get(path)
            assert page.status_code == 200, (path, page.text[:1000])
            shows_only(page.text, "alice")
        # The run page's live feed: the gateway's event stream, proxied as the same user.
        with alice.stream("GET", "/ui/runs/run-alice-live1/live") as feed:
            assert feed.status_code == 200
            text = "".join(feed.iter_text())
        assert "event: done" in text and 'data-status="succeeded"' in text, text
        assert alice.cookies.get("ca_ui_session")  # the dashboard's own session cookie...
    seen = gateway.requests()
    paths = {s.path for s in seen}
    assert {"/v1/workflows", "/v1/runs", "/v1/runs/run-alice-1/events"} <= paths, paths
    assert "/v1/runs/run-alice-live1/events" in paths, paths
    assert [s for s in seen if s.authorization != ALICE] == []
    # ... is never sent on, and neither is the cookie the gateway set on every answer.
    assert [s for s in seen if s.cookie is not None] == []
    assert gateway.record.crossed == []


def test_two_users_at_once_never_get_each_others_header(
    gateway: RecordingGateway, dashboard: UiProcess
) -> None:
    browsers = {"alice": browser_of(dashboard, ALICE), "bob": browser_of(dashboard, BOB)}

    def visit(user: str, n: int) -> None:
        http = browsers[user]
        for path in ("/ui/", f"/ui/runs/run-{user}-{n}", "/ui/runs"):
            page = http.get(path)
            assert page.status_code == 200, (user, path, page.text[:500])
            shows_only(page.text, user)
        feed = http.get(f"/ui/runs/run-{user}-live{100 + n}/live")
        assert "event: done" in feed.text
        shows_only(feed.text, user)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            jobs = [pool.submit(visit, user, n) for n in range(10) for user in browsers]
            for job in jobs:
                job.result()
    finally:
        for http in browsers.values():
            http.close()
    seen = gateway.requests()
    assert gateway.record.crossed == [], gateway.record.crossed
    counts = {header: sum(1 for s in seen if s.authorization == header) for header in (ALICE, BOB)}
    assert sum(counts.values()) == len(seen) and min(counts.values()) >= 60, counts
    assert [s for s in seen if s.cookie is not None] == []


def test_without_credentials_a_sign_in_page_says_so(
    gateway: RecordingGateway, dashboard: UiProcess
) -> None:
    for authorization, challenge in (
        (None, CHALLENGE),
        (EXPIRED, f'{CHALLENGE}, error="invalid_token"'),
    ):
        with browser_of(dashboard, authorization) as anonymous:
            for path in ("/ui/", "/ui/runs", "/ui/runs/run-alice-1", "/ui/workflows/default/greet"):
                page = anonymous.get(path)
                assert page.status_code == 401, (path, page.status_code)
                assert page.headers["www-authenticate"] == challenge
                assert "<h1>Sign in required</h1>" in page.text
                assert "Sign in again, then reload this page" in page.text
                assert_protected(page)
    assert {s.authorization for s in gateway.requests()} == {None, EXPIRED}


def test_forbidden_is_not_allowed_and_missing_stays_not_found(
    gateway: RecordingGateway, dashboard: UiProcess
) -> None:
    form = "/ui/workflows/default/greet"
    for header, status in ((BOB, 403), (ALICE, 303)):
        with browser_of(dashboard, header) as user:
            token = TOKEN.search(user.get(form).text)
            assert token is not None
            answer = user.post(
                f"{form}/runs",
                data={"topic": "hi", "csrf-token": token.group(1)},
                headers={"Origin": dashboard.url},
            )
            assert answer.status_code == status, answer.text[:1000]
            if status == 403:
                assert "Not allowed: you are signed in" in answer.text
                assert "bob may not create runs of default/greet" in answer.text
            else:
                assert re.fullmatch(r"/ui/runs/run-alice-live\d+", answer.headers["location"])
    with browser_of(dashboard, BOB) as bob:
        missing = bob.get("/ui/runs/run-carol-1")
    assert missing.status_code == 404
    assert "run_not_found" in missing.text
    assert "Not allowed" not in missing.text and "Sign in" not in missing.text
    starts = [s for s in gateway.requests() if s.method == "POST"]
    assert [s.authorization for s in starts] == [BOB, ALICE]


def test_in_the_browser_the_live_run_follows_the_signed_in_user(
    browser: Browser, gateway: RecordingGateway, dashboard: UiProcess, artifacts: Path
) -> None:
    with watching(browser, extra_http_headers={"Authorization": ALICE}) as watched:
        page = watched.page
        page.goto(f"{dashboard.url}/ui/workflows/default/greet")
        expect(page.get_by_text("visible to alice")).to_be_visible()
        page.get_by_label("topic").fill("hello")
        page.get_by_role("button", name="Start run").click()
        page.wait_for_url(re.compile(r"/ui/runs/run-alice-live\d+$"))
        run_id = page.url.rsplit("/", 1)[1]
        expect(page.locator("#run-status")).to_have_text("succeeded")  # by the live feed
        expect(page.locator("#run-output")).to_contain_text("hello alice")
        page.screenshot(path=str(artifacts / "signed-in-run.png"), full_page=True)
    seen = gateway.requests()
    assert f"/v1/runs/{run_id}/events" in {s.path for s in seen}
    assert {s.authorization for s in seen} == {ALICE}


def test_in_the_browser_a_missing_sign_in_is_a_clear_page(
    watched: Watched, gateway: RecordingGateway, dashboard: UiProcess, artifacts: Path
) -> None:
    page = watched.page
    answer = page.goto(f"{dashboard.url}/ui/")
    assert answer is not None and answer.status == 401
    expect(page.get_by_role("heading", name="Sign in required")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Sign in again, then reload this page")
    page.screenshot(path=str(artifacts / "sign-in-required.png"), full_page=True)


@pytest.fixture(scope="module")
def chat(
    recording: RecordingGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiProcess]:
    started = UiProcess(recording.url, tmp_path_factory.mktemp("ui-credentials-chat"))
    yield started
    started.stop()


def test_the_chat_acts_as_the_signed_in_user(
    browser: Browser, gateway: RecordingGateway, chat: UiProcess, artifacts: Path
) -> None:
    with watching(browser, extra_http_headers={"Authorization": ALICE}) as watched:
        page = watched.page
        page.goto(f"{chat.url}/chat/")
        expect(page.get_by_label("Workflow")).to_have_value("default/greet")
        box = page.get_by_placeholder("Type a message and press Enter")
        box.fill("hi there")
        box.press("Enter")
        answer = page.locator('.message.bot, [data-testid="bot"]').last
        expect(answer).to_contain_text("hello alice", timeout=30_000)
        page.screenshot(path=str(artifacts / "chat-signed-in.png"), full_page=True)
    seen = gateway.requests()
    paths = {s.path for s in seen}
    # the conversation's thread, then its run, each as alice
    assert {"/v1/workflows", "/v1/threads", "/v1/workflows/default/greet/runs"} <= paths, paths
    assert any(p.endswith("/events") for p in paths), paths
    assert {s.authorization for s in seen} == {ALICE}
    assert [s for s in seen if s.cookie is not None] == []


def test_the_chat_without_sign_in_says_so(
    browser: Browser, gateway: RecordingGateway, chat: UiProcess
) -> None:
    with watching(browser) as watched:
        page = watched.page
        page.goto(f"{chat.url}/chat/")
        expect(page.get_by_text("Sign in required").first).to_be_visible(timeout=30_000)
    assert {s.authorization for s in gateway.requests()} == {None}
