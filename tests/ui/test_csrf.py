"""CSRF: a POST that did not come from the dashboard's own pages is refused, and nothing happens.

Real ``serve`` and ``ui`` processes over loopback HTTP; each case checks the gateway afterwards
(no run started, the run not cancelled, not resumed), not only the 403.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import REPO
from tests.gateway.conftest import GatewayProcess
from tests.ui.conftest import UiProcess, Watched

#: Real server processes (one test starts two more UI servers): some seconds in all.
pytestmark = pytest.mark.slow

EVIL = "https://evil.example"
TOKEN = re.compile(r'name="csrf-token" value="([0-9a-f]{64})"')
WORKFLOW = "default/typed-inputs"
FORM = {"text": "x", "count": "1", "ratio": "0.5", "tags": "a", "extra": "{}", "tone": "plain"}


class Dashboard:
    """A browser-like session on one dashboard: its cookie jar and the token its pages carry."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.origin = base
        self.http = httpx.Client(base_url=base, timeout=30, follow_redirects=False)

    def token(self, path: str = "/ui/workflows/default/typed-inputs") -> str:
        page = self.http.get(path)
        assert page.status_code == 200, page.text[:500]
        found = TOKEN.search(page.text)
        assert found, "the page carries no CSRF token field"
        return found.group(1)

    def post(
        self, path: str, data: dict[str, str], *, origin: str | None = "own", **headers: str
    ) -> httpx.Response:
        sent = dict(headers)
        if origin is not None:
            sent["Origin"] = self.origin if origin == "own" else origin
        return self.http.post(path, data=data, headers=sent)


@pytest.fixture(params=["serve", "ui"])
def dashboard(request: pytest.FixtureRequest, gateway: GatewayProcess) -> Iterator[Dashboard]:
    """The dashboard embedded by ``serve`` and the standalone ``ui`` sidecar."""
    base = gateway.url if request.param == "serve" else request.getfixturevalue("ui_server").url
    session = Dashboard(base)
    yield session
    session.http.close()


def runs_of(gateway: GatewayProcess, workflow: str) -> list[str]:
    with gateway.client() as client:
        items = client.get("/v1/runs", params={"workflow": workflow, "limit": 200}).json()
    return [r["id"] for r in items["items"]]


def run_of(gateway: GatewayProcess, run_id: str) -> dict[str, Any]:
    with gateway.client() as client:
        return dict(client.get(f"/v1/runs/{run_id}").json())


def start_api_run(gateway: GatewayProcess, workflow: str, given: dict[str, Any]) -> str:
    with gateway.client() as client:
        answer = client.post(f"/v1/workflows/default/{workflow}/runs", json={"input": given})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def wait_status(gateway: GatewayProcess, run_id: str, wanted: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (status := run_of(gateway, run_id)["status"]) != wanted:
        assert time.monotonic() < deadline, f"{run_id} is {status}, never {wanted}"
        time.sleep(0.05)


def refused(answer: httpx.Response, because: str) -> None:
    assert answer.status_code == 403, (answer.status_code, answer.text[:500])
    assert "text/html" in answer.headers["content-type"]
    assert "csrf_rejected" in answer.text and because in answer.text, answer.text
    assert "Nothing was changed" in answer.text
    assert "Traceback" not in answer.text


def test_pages_issue_a_lax_httponly_session_and_carry_the_token(dashboard: Dashboard) -> None:
    page = dashboard.http.get("/ui/workflows/default/typed-inputs")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("ca_ui_session=")
    for flag in ("HttpOnly", "Path=/ui", "SameSite=lax"):
        assert flag.lower() in cookie.lower(), cookie
    token = TOKEN.search(page.text)
    assert token is not None
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token.group(1)}"}}\'' in page.text
    # The same browser keeps its session: the next page carries the same token, sets no cookie.
    again = dashboard.http.get("/ui/")
    assert "set-cookie" not in again.headers
    assert token.group(1) in again.text


def test_a_cross_site_post_starts_no_run(dashboard: Dashboard, gateway: GatewayProcess) -> None:
    before = runs_of(gateway, WORKFLOW)
    # What a form on another site makes a browser send: its Origin, no token, no cookie
    # (SameSite=Lax keeps the cookie home; an attacker sending it anyway is the next case).
    foreign = httpx.post(
        f"{dashboard.base}/ui/workflows/{WORKFLOW}/runs", data=FORM, headers={"Origin": EVIL}
    )
    refused(foreign, "another site")
    # Even with the victim's cookie, a request from elsewhere is refused without a token...
    dashboard.token()
    refused(dashboard.post(f"/ui/workflows/{WORKFLOW}/runs", FORM), "no CSRF token")
    # ... with a made-up token, and with no Origin and no Referer at all (a script).
    forged = {**FORM, "csrf-token": "0" * 64}
    refused(dashboard.post(f"/ui/workflows/{WORKFLOW}/runs", forged), "does not belong")
    refused(dashboard.post(f"/ui/workflows/{WORKFLOW}/runs", FORM, origin=None), "no CSRF token")
    # A valid token is refused from another origin, and from a Referer on another site.
    token = dashboard.token()
    signed = {**FORM, "csrf-token": token}
    refused(dashboard.post(f"/ui/workflows/{WORKFLOW}/runs", signed, origin=EVIL), "another site")
    refused(
        dashboard.post(
            f"/ui/workflows/{WORKFLOW}/runs", signed, origin=None, Referer=f"{EVIL}/page"
        ),
        "another site",
    )
    refused(dashboard.post(f"/ui/workflows/{WORKFLOW}/runs", signed, origin="null"), "opaque")
    assert runs_of(gateway, WORKFLOW) == before, "a refused request started a run"
    # The dashboard's own form goes through, and so does htmx's header instead of the field.
    started = dashboard.post(f"/ui/workflows/{WORKFLOW}/runs", signed)
    assert started.status_code == 303, started.text[:500]
    by_header = dashboard.post(f"/ui/workflows/{WORKFLOW}/runs", FORM, **{"X-CSRF-Token": token})
    assert by_header.status_code == 303, by_header.text[:500]
    assert len(runs_of(gateway, WORKFLOW)) == len(before) + 2


def test_another_browsers_token_does_not_fit_this_session(
    dashboard: Dashboard, gateway: GatewayProcess
) -> None:
    theirs = Dashboard(dashboard.base)
    try:
        token = theirs.token()  # an attacker's own, valid, session
    finally:
        theirs.http.close()
    dashboard.token()
    before = runs_of(gateway, WORKFLOW)
    answer = dashboard.post(f"/ui/workflows/{WORKFLOW}/runs", {**FORM, "csrf-token": token})
    refused(answer, "does not belong")
    assert runs_of(gateway, WORKFLOW) == before


def test_a_cross_site_cancel_leaves_the_run_running(
    dashboard: Dashboard, gateway: GatewayProcess
) -> None:
    run_id = start_api_run(gateway, "slow-chain", {"topic": "not to be cancelled"})
    refused(
        httpx.post(f"{dashboard.base}/ui/runs/{run_id}/cancel", headers={"Origin": EVIL}),
        "another site",
    )
    dashboard.token()
    refused(dashboard.post(f"/ui/runs/{run_id}/cancel", {}), "no CSRF token")
    assert run_of(gateway, run_id)["status"] in ("queued", "running")
    # The run page's own cancel form (its token from the page) does cancel it.
    token = dashboard.token(f"/ui/runs/{run_id}")
    cancelled = dashboard.post(f"/ui/runs/{run_id}/cancel", {"csrf-token": token})
    assert cancelled.status_code == 303, cancelled.text[:500]
    wait_status(gateway, run_id, "cancelled")


def test_a_cross_site_answer_leaves_the_run_interrupted(
    dashboard: Dashboard, gateway: GatewayProcess
) -> None:
    run_id = start_api_run(gateway, "human-approval", {"topic": "forgery"})
    wait_status(gateway, run_id, "interrupted")
    answer = {"approved": "true", "feedback": "from elsewhere"}
    refused(
        httpx.post(
            f"{dashboard.base}/ui/runs/{run_id}/resume", data=answer, headers={"Origin": EVIL}
        ),
        "another site",
    )
    time.sleep(0.3)  # a resume that got through would have moved the run on by now
    assert run_of(gateway, run_id)["status"] == "interrupted"
    with gateway.client() as client:
        assert client.post(f"/v1/runs/{run_id}/cancel").status_code < 300


def test_replicas_with_one_secret_accept_each_others_forms(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    shared = {"CONFIGURABLE_AGENTS_UI_SECRET": "s3cret-shared-by-every-replica"}
    first = UiProcess(gateway.url, tmp_path, "--no-chat", env=shared)
    second = UiProcess(gateway.url, tmp_path, "--no-chat", env=shared)
    alone = UiProcess(gateway.url, tmp_path, "--no-chat", env={"CONFIGURABLE_AGENTS_UI_SECRET": ""})
    try:
        before = runs_of(gateway, WORKFLOW)
        browser = Dashboard(first.url)
        token = browser.token()
        # As behind one address: the same cookie (cookies ignore ports) reaches another replica.
        for replica, status in ((second, 303), (alone, 403)):
            answer = browser.http.post(
                f"{replica.url}/ui/workflows/{WORKFLOW}/runs",
                data={**FORM, "csrf-token": token},
                headers={"Origin": replica.url},
            )
            assert answer.status_code == status, answer.text[:500]
        assert len(runs_of(gateway, WORKFLOW)) == len(before) + 1
        browser.http.close()
    finally:
        for server in (first, second, alone):
            server.stop()


def test_a_too_short_secret_is_one_clear_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "ui", "--gateway", "http://127.0.0.1:9"],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO), CONFIGURABLE_AGENTS_UI_SECRET="short"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "CONFIGURABLE_AGENTS_UI_SECRET: must be at least 16 characters" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_stale_page_gets_a_clear_refusal_and_a_reload_mends_it(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/ui/workflows/default/human-approval")
    page.context.clear_cookies()  # as after the session was lost: the form's token is stale
    page.get_by_label("topic").fill("stale")
    before = runs_of(gateway, "default/human-approval")
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_role("heading", name="Request refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("reload the page and try again")
    page.screenshot(path=str(artifacts / "csrf-refused.png"), full_page=True)
    assert runs_of(gateway, "default/human-approval") == before
    page.goto(f"{gateway.url}/ui/workflows/default/human-approval")
    page.get_by_label("topic").fill("fresh")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#run-status")).to_have_text("interrupted")
