"""Signing in to the dashboard and the chat with OpenID Connect, in Chromium, end to end.

Real parts only (``signin_harness``): Dex's own login form, a ``serve --auth oidc`` gateway that
verifies Dex's ID tokens and asks the control plane's RBAC, and its embedded dashboard configured
for Dex. Every page is watched for CSP violations, script errors and requests off the machine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from agent_runtime.ui.session import COOKIE, MAX_COOKIE
from tests.ui.conftest import watching
from tests.ui.dex_harness import USERS
from tests.ui.signin_harness import (
    Server,
    SignInStack,
    read_session,
    signin_env,
    signin_flags,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def sign_in(page: Page, stack: SignInStack, user: str) -> None:
    """On Dex's login form (where a signed-out visit lands), sign in as ``user``."""
    expect(page.locator("#login")).to_be_visible()
    assert page.url.startswith(stack.dex.issuer), page.url
    page.fill("#login", USERS[user].email)
    page.fill("#password", USERS[user].password)
    page.click("#submit-login")
    expect(page.locator("#signed-in-as")).to_contain_text(USERS[user].email)


def open_signed_in(page: Page, stack: SignInStack, user: str, path: str = "/ui/") -> None:
    page.goto(f"{stack.gateway.url}{path}")
    sign_in(page, stack, user)
    assert page.url == f"{stack.gateway.url}{path}", page.url


def workflows_shown(page: Page) -> set[str]:
    rows = page.locator("tr[data-workflow]")
    return {str(rows.nth(i).get_attribute("data-workflow")) for i in range(rows.count())}


def test_a_signed_out_visit_goes_to_dex_and_comes_back_to_the_page(
    browser: Browser, signin_stack: SignInStack, artifacts: Path
) -> None:
    stack = signin_stack
    with watching(browser) as watched:
        page = watched.page
        page.goto(f"{stack.gateway.url}/ui/runs?status=succeeded")
        expect(page.locator("#login")).to_be_visible()
        page.screenshot(path=str(artifacts / "signin-dex-form.png"))
        sign_in(page, stack, "alice")
        expect(page).to_have_url(f"{stack.gateway.url}/ui/runs?status=succeeded")
        page.screenshot(path=str(artifacts / "signin-back-on-runs.png"))


def test_a_user_sees_only_their_namespace_and_watches_their_run_finish(
    browser: Browser, signin_stack: SignInStack, artifacts: Path
) -> None:
    stack, a = signin_stack, signin_stack.tenancy.a
    with watching(browser) as watched:
        page = watched.page
        open_signed_in(page, stack, "alice")
        assert workflows_shown(page) == {f"{a}/chain", f"{a}/approve", f"{a}/pay"}
        page.click(f'a[href$="/workflows/{a}/chain"]')
        page.fill("#input-topic", "tenancy")
        page.get_by_role("button", name="Start run").click()
        expect(page).to_have_url(re.compile(r"/ui/runs/run-[0-9a-z-]+$"))
        expect(page.locator("#run-status")).to_have_text(re.compile("queued|running"))
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=30_000)
        expect(page.locator("#run-output")).to_contain_text(f"answer on tenancy in {a}")
        page.screenshot(path=str(artifacts / "signin-run-finished.png"), full_page=True)
        run_id = page.url.rsplit("/", 1)[1]
    with stack.api("alice") as api:
        run = api.get(f"/v1/runs/{run_id}").json()
    assert run["createdBy"]["username"] == "alice@example.com"
    assert run["status"] == "succeeded"


def alices_runs(stack: SignInStack) -> dict[str, dict[str, Any]]:
    """A finished run and one waiting at its human node, both started by alice in A."""
    a = stack.tenancy.a
    with stack.api("alice") as api:
        done = api.post(
            f"/v1/workflows/{a}/chain/runs", json={"input": {"topic": "secret"}, "wait": True}
        )
        waiting = api.post(
            f"/v1/workflows/{a}/approve/runs", json={"input": {"topic": "x"}, "wait": True}
        )
    assert done.status_code == 200 and waiting.status_code == 200, (done.text, waiting.text)
    assert waiting.json()["status"] == "interrupted"
    return {"done": done.json(), "waiting": waiting.json()}


def test_another_user_sees_none_of_it(
    browser: Browser, signin_stack: SignInStack, artifacts: Path
) -> None:
    stack, a, b = signin_stack, signin_stack.tenancy.a, signin_stack.tenancy.b
    runs = alices_runs(stack)
    with watching(browser) as watched:
        page = watched.page
        open_signed_in(page, stack, "bob")
        assert workflows_shown(page) == {f"{b}/chain", f"{b}/approve"}
        page.goto(f"{stack.gateway.url}/ui/runs")
        for run in runs.values():
            expect(page.locator(f'tr[data-run="{run["id"]}"]')).to_have_count(0)
        assert a not in page.content()
        answer = page.goto(f"{stack.gateway.url}/ui/runs/{runs['done']['id']}")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("alert")).to_contain_text("run_not_found")
        answer = page.goto(f"{stack.gateway.url}/ui/workflows/{a}/chain")
        assert answer is not None and answer.status == 404
        page.screenshot(path=str(artifacts / "signin-other-tenant.png"))


def test_a_viewer_reads_a_run_but_is_refused_changing_it_cleanly(
    browser: Browser, signin_stack: SignInStack, artifacts: Path
) -> None:
    """carol may read A's runs, not change them: the run page offers her no answer or cancel (the
    gateway says what she may do), and the API refuses them anyway."""
    stack, a = signin_stack, signin_stack.tenancy.a
    waiting = alices_runs(stack)["waiting"]
    with watching(browser) as watched:
        page = watched.page
        open_signed_in(page, stack, "carol", f"/ui/runs/{waiting['id']}")
        expect(page.locator("#run-status")).to_have_text("interrupted")
        expect(page.locator("#run-created-by")).to_have_text("alice@example.com")
        expect(page.locator("#read-only-note")).to_be_visible()
        expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
        expect(page.get_by_role("button", name="Answer and resume")).to_have_count(0)
        page.screenshot(path=str(artifacts / "signin-viewer-refused.png"))
        page.goto(f"{stack.gateway.url}/ui/workflows/{a}/chain")
        page.fill("#input-topic", "not mine to run")
        page.get_by_role("button", name="Start run").click()
        expect(page.get_by_role("alert")).to_contain_text("Not allowed")
    with stack.api("carol") as api:
        seen = api.get(f"/v1/runs/{waiting['id']}").json()
        assert seen["permissions"] == {"get": True, "update": False}
        assert api.post(f"/v1/runs/{waiting['id']}/cancel").status_code == 403
    with stack.api("alice") as api:
        assert api.get(f"/v1/runs/{waiting['id']}").json()["permissions"]["update"] is True
        assert api.get(f"/v1/runs/{waiting['id']}").json()["status"] == "interrupted"
        mine = api.get("/v1/runs", params={"workflow": f"{a}/chain", "limit": 200}).json()
    assert not [r for r in mine["items"] if r["input"] == {"topic": "not mine to run"}]


def test_the_session_cookie_is_httponly_lax_small_and_holds_only_the_tokens(
    browser: Browser, signin_stack: SignInStack
) -> None:
    stack = signin_stack
    with watching(browser) as watched:
        open_signed_in(watched.page, stack, "alice")
        cookies = {c["name"]: c for c in watched.page.context.cookies()}
    cookie = cookies[COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http on loopback; Secure over TLS (next test)
    assert cookie["path"] == "/"
    assert len(cookie["value"]) < MAX_COOKIE
    session = read_session(cookie["value"])
    assert set(session) == {"signin"}  # no state, nonce or verifier left from the sign-in
    held = session["signin"]
    assert set(held) <= {"user", "id", "exp", "refresh"}
    assert held["user"] == "alice@example.com" and held["refresh"]
    assert held["id"].count(".") == 2  # the ID token itself, which the gateway verifies


def test_sign_out_ends_the_session_and_the_next_visit_signs_in_again(
    browser: Browser, signin_stack: SignInStack, artifacts: Path
) -> None:
    stack = signin_stack
    with watching(browser) as watched:
        page = watched.page
        open_signed_in(page, stack, "alice")
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#signed-out")).to_be_visible()
        expect(page.locator("#signed-in-as")).to_have_count(0)
        page.screenshot(path=str(artifacts / "signin-signed-out.png"))
        assert COOKIE not in {c["name"] for c in page.context.cookies()}
        page.goto(f"{stack.gateway.url}/ui/")
        expect(page.locator("#login")).to_be_visible()  # Dex's form again


def test_the_chat_signs_in_too_and_offers_only_the_users_workflows(
    browser: Browser, signin_stack: SignInStack, artifacts: Path
) -> None:
    stack, b = signin_stack, signin_stack.tenancy.b
    with watching(browser) as watched:
        page = watched.page
        page.goto(f"{stack.gateway.url}/chat/")
        expect(page.locator("#login")).to_be_visible()
        page.fill("#login", USERS["bob"].email)
        page.fill("#password", USERS["bob"].password)
        page.click("#submit-login")
        expect(page).to_have_url(f"{stack.gateway.url}/chat/")
        workflow = page.get_by_label("Workflow")
        expect(workflow).to_have_value(re.compile(f"^{b}/"), timeout=60_000)
        workflow.click()
        options = page.get_by_role("option")
        expect(options).to_have_count(2)
        # An option's text may start with Gradio's check mark on its own line.
        assert {options.nth(i).inner_text().split()[-1] for i in range(2)} == {
            f"{b}/approve",
            f"{b}/chain",
        }
        options.filter(has_text=f"{b}/chain").click()
        box = page.get_by_placeholder("Type a message and press Enter")
        box.fill("tides")
        box.press("Enter")
        answer = page.locator('.message.bot, [data-testid="bot"]').last
        expect(answer).to_contain_text(f"answer on tides in {b}", timeout=30_000)
        page.screenshot(path=str(artifacts / "signin-chat.png"), full_page=True)
        run_id = answer.locator("code").first.inner_text()
    with stack.api("bob") as api:
        assert api.get(f"/v1/runs/{run_id}").json()["createdBy"]["username"] == "bob@example.com"


def test_the_standalone_ui_signs_in_with_its_flags(
    browser: Browser, signin_stack: SignInStack, tmp_path: Path
) -> None:
    """``ui --gateway URL --ui-oidc-...``: the sidecar's own sign-in, the secret from the env."""
    stack, a = signin_stack, signin_stack.tenancy.a
    url = f"http://127.0.0.1:{stack.ui_port}"
    args = [
        "ui",
        "--gateway",
        stack.gateway.url,
        "--port",
        str(stack.ui_port),
        "--no-chat",
        *signin_flags(stack.dex, url),
    ]
    ui = Server(stack.ui_port, tmp_path, args, signin_env(tmp_path), "/healthz")
    try:
        with watching(browser) as watched:
            page = watched.page
            page.goto(f"{url}/ui/")
            sign_in(page, stack, "alice")
            assert workflows_shown(page) == {f"{a}/chain", f"{a}/approve", f"{a}/pay"}
        assert "Traceback" not in ui.log.read_text(errors="replace")
    finally:
        ui.stop()
