"""Approvals on the run page: a real gateway with gated workflows, headless Chromium and plain
form posts. What the run waits for is shown (tool arguments as escaped JSON text), the decision
goes to the gateway as the user, and the run's approvals are listed afterwards."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from agent_runtime.ui.views import run_view, templates
from tests.conftest import CLI
from tests.counting_tools import counts as recorded_counts
from tests.engine.test_recorded_calls import crash_mid_call, crash_workflow
from tests.gated_workflows import PAY_ONE, PAY_TWO
from tests.gateway.conftest import GatewayProcess
from tests.gateway.test_runs_api import settle
from tests.ui.conftest import Watched

#: Real browser and server processes: some seconds in all.
pytestmark = pytest.mark.slow

TOKEN = re.compile(r'name="csrf-token" value="([0-9a-f]{64})"')
INTERRUPT = re.compile(r'name="interrupt" value="([0-9a-f]+)"')
#: Two calls in one round: ``charge`` gated on the tool, ``refund`` by the node.
#: Markup in a tool argument, as a model (or whoever steers it) might send it.
PROBE_ARG = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'
PROBE = PAY_ONE.replace("name: pay}", "name: probe}").replace("charged", json.dumps(PROBE_ARG))


#: Two requests in one visit of one node: ``pay`` pauses at ``limits.maxTokens`` (``warm`` used
#: all 3 tokens) before it starts, then at its model's gated call.
TWICE = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: twice}
spec:
  state: {out: {type: string}}
  output: [out]
  models:
    m:
      provider: scripted
      responses: [{toolCalls: [{name: charge, args: {label: second}}]}]
    plain: {provider: scripted, responses: ["warm enough"]}
  tools: [{name: charge, function: "tests.counting_tools:record", requireApproval: true}]
  nodes:
    - {name: warm, type: llm, model: plain, prompt: hello, output: out}
    - {name: pay, type: llm, model: m, prompt: go, tools: [charge], output: out}
  edges: [{from: START, to: warm}, {from: warm, to: pay}, {from: pay, to: END}]
  limits: {maxTokens: 3, onExceeded: pause}
"""


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway (dashboard embedded at /ui/) serving the gated workflows above."""
    workdir = tmp_path_factory.mktemp("ui-approvals")
    folder = workdir / "workflows"
    folder.mkdir()
    (folder / "pay.yaml").write_text(PAY_TWO)
    (folder / "probe.yaml").write_text(PROBE)
    (folder / "twice.yaml").write_text(TWICE)
    started = GatewayProcess(f"sqlite:///{workdir / 'runs.db'}", workdir, workflows=folder)
    yield started
    started.kill(signal.SIGTERM)


def counts(gateway: GatewayProcess) -> dict[str, int]:
    """How often each tool label ran in the gateway (its COUNTER_DIR, next to its log)."""
    folder = gateway.log.parent / "counts"
    return {p.name: len(p.read_text().splitlines()) for p in folder.glob("*")}


def waiting_run(gateway: GatewayProcess, workflow: str) -> dict[str, Any]:
    with gateway.client() as api:
        run_id = api.post(f"/v1/workflows/default/{workflow}/runs", json={}).json()["id"]
        run = settle(api, run_id, until={"interrupted"})
    assert run["interrupt"]["kind"] == "approval", run
    return run


def test_approve_some_calls_in_the_browser_and_see_them_listed(
    watched: Watched, gated: GatewayProcess, artifacts: Path
) -> None:
    run = waiting_run(gated, "pay")
    before = counts(gated)
    page = watched.page
    page.goto(f"{gated.url}/ui/runs/{run['id']}")
    expect(page.locator("#run-status")).to_have_text("interrupted")
    box = page.locator("#approval")
    expect(box.locator("#approval-message")).to_have_text("run charge, refund for node 'pay'?")
    charge = box.locator('.approval-call[data-tool="charge"]')
    refund = box.locator('.approval-call[data-tool="refund"]')
    expect(charge.locator("pre.call-args")).to_have_text('{\n  "label": "charged"\n}')
    expect(refund.locator("pre.call-args")).to_have_text('{\n  "label": "refunded"\n}')
    expect(page.get_by_role("button", name="Resume")).to_have_count(0)  # not a human node
    page.screenshot(path=str(artifacts / "run-approval.png"), full_page=True)
    assert counts(gated) == before

    page.get_by_label("Approve refund").uncheck()
    page.get_by_label("Reason").fill("charge yes, refund <b>no</b>")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#approval")).to_have_count(0)
    rows = page.locator("#approvals tbody tr")
    expect(rows).to_have_count(2)
    first, second = rows.nth(0), rows.nth(1)
    expect(first).to_have_attribute("data-approved", "true")
    expect(first).to_contain_text("charge")
    expect(second).to_have_attribute("data-approved", "false")
    expect(second).to_contain_text("denied")
    for row in (first, second):
        expect(row.locator('td[data-label="By"]')).to_have_text("system:anonymous")
        expect(row.locator('td[data-label="Comment"]')).to_have_text("charge yes, refund <b>no</b>")
    expect(page.locator("#run-output")).to_contain_text("a person denied this call of 'refund'")
    expect(page.locator("#run-retries")).to_have_text("0")  # going on after a pause is no retry
    assert counts(gated) == {**before, "charged": before.get("charged", 0) + 1}
    page.screenshot(path=str(artifacts / "run-approval-decided.png"), full_page=True)


def test_markup_in_tool_arguments_is_shown_as_text_then_denied(
    watched: Watched, gated: GatewayProcess, artifacts: Path
) -> None:
    run = waiting_run(gated, "probe")
    before = counts(gated)
    page = watched.page
    page.goto(f"{gated.url}/ui/runs/{run['id']}")
    args = page.locator('.approval-call[data-tool="charge"] pre.call-args')
    expect(args).to_contain_text(PROBE_ARG.replace('"', '\\"'))
    assert args.evaluate("e => e.children.length") == 0, args.inner_html()
    assert page.locator("#approval script, #approval img").count() == 0
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=str(artifacts / "run-approval-markup.png"), full_page=True)

    page.get_by_label("Reason").fill("looks odd")
    page.get_by_role("button", name="Deny").click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    row = page.locator("#approvals tbody tr")
    expect(row).to_have_attribute("data-approved", "false")
    expect(row.locator('td[data-label="Comment"]')).to_have_text("looks odd")
    assert page.evaluate("window.__xss") is None
    assert counts(gated) == before


def test_a_decision_made_elsewhere_renews_the_form_on_an_open_page(
    watched: Watched, gated: GatewayProcess
) -> None:
    """The page updates live: once someone else decides, the form of the request that no longer
    waits goes away, and the next request of the same node visit is shown, without a reload."""
    run = waiting_run(gated, "twice")
    assert (run["interrupt"]["node"], run["interrupt"]["reason"]) == ("pay", "maxTokens")
    page = watched.page
    page.goto(f"{gated.url}/ui/runs/{run['id']}")
    expect(page.locator("#approval-message")).to_contain_text("limits.maxTokens")
    expect(page.locator("#approval-limit")).to_contain_text("maxTokens")
    expect(page.locator("#approval .approval-call")).to_have_count(0)
    # No screenshot here: Playwright's full-page capture leaves style="" on the textarea, which
    # htmx then copies onto the re-rendered form (refused by the page's CSP: style-src 'self').
    page.evaluate("window.__sameDocument = true")
    with gated.client() as api:
        answer = api.post(f"/v1/runs/{run['id']}/approve", json={"approved": True})
        assert answer.status_code == 202, answer.text
    expect(page.locator("#approval pre.call-args")).to_contain_text('"second"')
    expect(page.locator("#approval-limit")).to_have_count(0)
    limit_row = page.locator("#approvals tbody tr")
    expect(limit_row).to_have_attribute("data-approved", "true")
    expect(limit_row.locator('td[data-label="For"]')).to_have_text("maxTokens")
    assert page.evaluate("window.__sameDocument") is True
    page.get_by_role("button", name="Deny").click()
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#approval")).to_have_count(0)
    expect(page.locator("#approvals tbody tr")).to_have_count(2)


def test_a_call_of_unknown_outcome_goes_on_with_the_result_a_person_gives(
    watched: Watched, tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed inside a call of a tool that is not idempotent waits for a person; on the
    page they give the call's result (bad JSON named first), and the run goes on without
    calling the tool again."""
    monkeypatch.setenv("COUNTER_DIR", cli_env["COUNTER_DIR"])
    folder = tmp_path / "workflows"
    folder.mkdir()
    path, gate = crash_workflow(folder)
    run_id = crash_mid_call(path, cli_env)
    held = subprocess.run(
        [*CLI, "runs", "resume", run_id], env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert held.returncode == 3, held.stderr
    gate.touch()  # were the tool called again, it would finish (and count a second call)
    gateway = GatewayProcess(
        cli_env["CONFIGURABLE_AGENTS_STORE"],
        tmp_path,
        workflows=folder,
        env={"COUNTER_DIR": cli_env["COUNTER_DIR"]},
    )
    try:
        page = watched.page
        page.goto(f"{gateway.url}/ui/runs/{run_id}")
        expect(page.locator("#approval")).to_have_attribute("data-reason", "unknownOutcome")
        expect(page.locator("#approval-message")).to_contain_text("may or may not have taken")
        page.get_by_label("Result").fill("{not json")
        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#error")).to_contain_text("result: expected JSON")
        expect(page.get_by_label("Result")).to_have_value("{not json")  # kept to correct
        page.get_by_label("Result").fill('"charged already"')
        page.get_by_role("button", name="Approve").click()
        expect(page.locator("#run-status")).to_have_text("succeeded")
        expect(page.locator("#run-output")).to_contain_text("charged already")
        row = page.locator("#approvals tbody tr")
        expect(row).to_have_attribute("data-approved", "true")
        assert recorded_counts() == {"charged": 1}, "not called again"
    finally:
        gateway.kill(signal.SIGTERM)


PHONE = {"width": 375, "height": 740}


@pytest.mark.parametrize("watched", [PHONE], indirect=True)
def test_the_approval_form_and_history_fit_a_phone(
    watched: Watched, gated: GatewayProcess, artifacts: Path
) -> None:
    run = waiting_run(gated, "probe")
    page = watched.page
    page.goto(f"{gated.url}/ui/runs/{run['id']}")
    expect(page.locator("#approve-button")).to_be_visible()
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the run page is {wide}px wide on a phone"
    page.screenshot(path=str(artifacts / "narrow-run-approval.png"), full_page=True)
    page.get_by_role("button", name="Deny").click()
    expect(page.locator("#approvals tbody tr")).to_have_count(1)
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the approvals are {wide}px wide on a phone"


class Form:
    """The run page as a browser without scripts sees it: cookie jar, token, form posts."""

    def __init__(self, gateway: GatewayProcess, run_id: str) -> None:
        self.path = f"/ui/runs/{run_id}"
        self.http = httpx.Client(base_url=gateway.url, timeout=30, follow_redirects=False)
        self.origin = gateway.url

    def read(self) -> tuple[str, str]:
        """(CSRF token, the approval form's interrupt token) from a fresh page."""
        page = self.http.get(self.path)
        assert page.status_code == 200, page.text[:500]
        token, interrupt = TOKEN.search(page.text), INTERRUPT.search(page.text)
        assert token and interrupt, page.text[:3000]
        return token.group(1), interrupt.group(1)

    def post(self, **data: str) -> httpx.Response:
        return self.http.post(f"{self.path}/approve", data=data, headers={"Origin": self.origin})


def alert(page: httpx.Response) -> str:
    found = re.search(r'<div class="alert" role="alert" id="error">(.*?)</div>', page.text, re.S)
    assert found, page.text[:3000]
    return re.sub(r"\s+", " ", found.group(1))


def test_deny_by_form_post_with_clear_errors_and_csrf(gated: GatewayProcess) -> None:
    run = waiting_run(gated, "pay")
    form = Form(gated, run["id"])
    token, interrupt = form.read()
    base = {"csrf-token": token, "interrupt": interrupt}

    forged = form.post(**{**base, "csrf-token": "0" * 64}, decision="deny")
    assert forged.status_code == 403, forged.text[:500]
    long = form.post(**base, decision="deny", reason="x" * 2001)
    assert long.status_code == 422, long.text[:500]
    assert "reason" in alert(long) and "2000" in alert(long)
    assert 'id="approval-form"' in long.text  # the form is still there to try again
    none = form.post(**base, decision="approve")  # no call ticked
    assert none.status_code == 422 and "tick at least one call" in alert(none)
    odd = form.post(**base, decision="maybe")
    assert odd.status_code == 422 and "decision: must be approve or deny" in alert(odd)
    stale = form.post(**{**base, "interrupt": "0" * 32}, decision="deny")
    assert stale.status_code == 409 and "nothing was decided" in alert(stale)
    with gated.client() as api:
        still = api.get(f"/v1/runs/{run['id']}").json()
    assert still["status"] == "interrupted" and still["approvals"] == []

    denied = form.post(**base, decision="deny", reason="not now")
    assert denied.status_code == 303, denied.text[:500]
    assert denied.headers["location"] == f"/ui/runs/{run['id']}"
    with gated.client() as api:
        done = settle(api, run["id"], until={"succeeded", "failed"})
    assert done["status"] == "succeeded", done["error"]
    assert [(a["tool"], a["approved"], a["comment"]) for a in done["approvals"]] == [
        ("charge", False, "not now"),
        ("refund", False, "not now"),
    ]
    again = form.post(**base, decision="approve", **{"call:call_0": "true"})
    assert again.status_code == 409, again.text[:500]
    assert "no longer waits" in alert(again) and "it is succeeded" in alert(again)
    page = form.http.get(form.path)
    assert page.status_code == 200 and 'id="approvals"' in page.text
    assert 'id="approval-form"' not in page.text


APPROVAL_RUN: dict[str, Any] = {
    "id": "run-1",
    "namespace": "default",
    "workflow": "pay",
    "status": "interrupted",
    "input": {},
    "output": None,
    "interrupt": {
        "kind": "approval",
        "node": "pay",
        "visit": 0,
        "reason": "approval",
        "message": "run charge for node 'pay'?",
        "calls": [{"id": "call_0", "name": "charge", "args": {"label": PROBE_ARG}}],
    },
    "approvals": [],
    "steps": [],
}


def render_actions(run: dict[str, Any]) -> str:
    template = templates().get_template("_run_actions.html")
    return str(
        template.render(root="/ui", view=run_view(run, None), csrf_token="t" * 64, values={})
    )


def test_a_reader_sees_what_the_run_waits_for_but_no_decision() -> None:
    """The gateway says this caller may not update the run: no form, no buttons."""
    html = render_actions({**APPROVAL_RUN, "permissions": {"get": True, "update": False}})
    assert 'id="approval"' in html and "run charge for node" in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html and "<script>" not in html
    assert 'id="read-only-note"' in html and "not approve, deny or cancel" in html
    for absent in ("<form", "<button", 'id="approve-button"', 'id="deny-button"', "textarea"):
        assert absent not in html, absent
    may = render_actions({**APPROVAL_RUN, "permissions": {"get": True, "update": True}})
    for present in ('id="approval-form"', 'id="approve-button"', 'id="deny-button"'):
        assert present in may, present
    assert 'id="read-only-note"' not in may and "resume-form" not in may
    assert 'id="approval-result"' not in may  # a result only for a call of unknown outcome


def test_a_human_node_still_gets_its_answer_form() -> None:
    human = {
        **APPROVAL_RUN,
        "interrupt": {
            "node": "review",
            "visit": 0,
            "prompt": "ok?",
            "fields": {"approved": {"type": "boolean"}},
        },
        "permissions": {"get": True, "update": True},
    }
    html = render_actions(human)
    assert 'id="resume-form"' in html and 'id="resume-approved"' in html
    assert 'id="approval' not in html
