"""Approvals as signed-in users (``signin_harness``: Dex, the control plane's RBAC, a ``serve
--auth oidc`` gateway): a reader sees what a run waits for and no way to decide it, and the
gateway refuses her anyway; a runner approves from the page, recorded under her own name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from tests.ui.conftest import watching
from tests.ui.signin_harness import SignInStack
from tests.ui.test_signin import open_signed_in

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def waiting_payment(stack: SignInStack) -> dict[str, Any]:
    with stack.api("alice") as api:
        started = api.post(f"/v1/workflows/{stack.tenancy.a}/pay/runs", json={"wait": True})
    assert started.status_code == 200, started.text
    run: dict[str, Any] = started.json()
    assert run["status"] == "interrupted" and run["interrupt"]["kind"] == "approval", run
    return run


def test_a_reader_sees_the_waiting_call_but_cannot_decide_it(
    browser: Browser, signin_stack: SignInStack, artifacts: Path
) -> None:
    stack = signin_stack
    run = waiting_payment(stack)
    with watching(browser) as watched:
        page = watched.page
        open_signed_in(page, stack, "carol", f"/ui/runs/{run['id']}")
        expect(page.locator("#run-status")).to_have_text("interrupted")
        call = page.locator('.approval-call[data-tool="charge"]')
        expect(call.locator("pre.call-args")).to_have_text('{\n  "label": "paid"\n}')
        expect(page.locator("#read-only-note")).to_contain_text("not approve, deny or cancel")
        for name in ("Approve", "Deny", "Cancel run"):
            expect(page.get_by_role("button", name=name)).to_have_count(0)
        expect(page.locator("#approval-form")).to_have_count(0)
        page.screenshot(path=str(artifacts / "signin-approval-reader.png"), full_page=True)
    with stack.api("carol") as api:
        refused = api.post(f"/v1/runs/{run['id']}/approve", json={"approved": True})
        assert refused.status_code == 403, refused.text
        after = api.get(f"/v1/runs/{run['id']}").json()
    assert after["status"] == "interrupted" and after["approvals"] == []


def test_a_runner_approves_from_the_page_under_her_own_name(
    browser: Browser, signin_stack: SignInStack, artifacts: Path
) -> None:
    stack = signin_stack
    run = waiting_payment(stack)
    with watching(browser) as watched:
        page = watched.page
        open_signed_in(page, stack, "alice", f"/ui/runs/{run['id']}")
        expect(page.locator("#approval-message")).to_contain_text("run charge")
        page.get_by_label("Reason").fill("budgeted")
        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#run-status")).to_have_text("succeeded")
        row = page.locator("#approvals tbody tr")
        expect(row).to_have_attribute("data-approved", "true")
        expect(row.locator('td[data-label="By"]')).to_have_text("alice@example.com")
        expect(row.locator('td[data-label="Comment"]')).to_have_text("budgeted")
        page.screenshot(path=str(artifacts / "signin-approval-approved.png"), full_page=True)
    with stack.api("alice") as api:
        done = api.get(f"/v1/runs/{run['id']}").json()
    assert [(a["tool"], a["approved"], a["by"]["username"]) for a in done["approvals"]] == [
        ("charge", True, "alice@example.com")
    ]
    assert done["output"] == {"out": "paid"}
