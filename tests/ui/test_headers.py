"""Security headers: a strict Content-Security-Policy, no framing, nosniff, same-origin referrers,
and a Secure session cookie behind TLS, on every response of the dashboard (and the chat page as
far as Gradio allows), checked over HTTP and enforced in headless Chromium.

The other browser tests run under the same policy: their ``watched`` page fails on any CSP
violation, so the graph, the forms and the live run page are all checked with it enforced.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect
from starlette.testclient import TestClient

from agent_runtime.ui import GatewayClient, create_dashboard
from tests.gateway.conftest import GatewayProcess
from tests.ui.conftest import UiProcess, Watched, watching

#: Real server processes and a browser: some seconds in all.
pytestmark = pytest.mark.slow

TEMPLATES = Path(__file__).resolve().parents[2] / "agent_runtime" / "ui" / "templates"
FIXED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def directives(response: httpx.Response) -> dict[str, str]:
    value = response.headers.get("content-security-policy", "")
    assert value, f"{response.request.url}: no Content-Security-Policy"
    pairs = (part.strip().split(" ", 1) for part in value.split(";") if part.strip())
    return {name: rest for name, rest in pairs}


def assert_protected(response: httpx.Response, *, inline_styles: bool = False) -> None:
    where = f"{response.request.method} {response.request.url} ({response.status_code})"
    for name, value in FIXED.items():
        assert response.headers.get(name) == value, f"{where}: {name}"
    csp = directives(response)
    assert csp["script-src"] == "'self'", where  # no inline script, no eval
    assert csp["style-src"] == ("'self' 'unsafe-inline'" if inline_styles else "'self'"), where
    assert csp["frame-ancestors"] == "'none'", where
    assert csp["object-src"] == "'none'" and csp["default-src"] == "'self'", where
    assert "unsafe-eval" not in response.headers["content-security-policy"], where


@pytest.fixture(params=["serve", "ui"])
def dashboard_url(request: pytest.FixtureRequest, gateway: GatewayProcess) -> str:
    """The dashboard embedded by ``serve`` and the standalone ``ui`` sidecar."""
    if request.param == "serve":
        return gateway.url
    ui: UiProcess = request.getfixturevalue("ui_server")
    return ui.url


def finished_run(gateway: GatewayProcess) -> str:
    with gateway.client() as client:
        answer = client.post(
            "/v1/workflows/default/linear-chain/runs", json={"input": {"topic": "x"}, "wait": True}
        )
    return str(answer.json()["id"])


def test_pages_partials_static_files_and_errors_carry_the_headers(
    dashboard_url: str, gateway: GatewayProcess
) -> None:
    run_id = finished_run(gateway)
    with httpx.Client(base_url=dashboard_url, timeout=30) as http:
        answers = [
            http.get("/ui/"),
            http.get("/ui/runs"),
            http.get("/ui/runs", headers={"HX-Request": "true", "HX-Target": "runs-results"}),
            http.get(f"/ui/runs/{run_id}"),
            http.get(f"/ui/runs/{run_id}/live"),  # the SSE feed (a finished run's ends at once)
            http.get("/ui/static/htmx.min.js"),
            http.get("/ui/static/dashboard.js"),
            http.get("/ui/static/dashboard.css"),
            http.get("/ui/static/no-such-file.js"),
            http.get("/ui/runs/run-doesnotexist"),
            http.post(f"/ui/runs/{run_id}/cancel", headers={"Origin": "https://evil.example"}),
        ]
        statuses = [a.status_code for a in answers]
        assert statuses == [200] * 8 + [404, 404, 403], statuses
        assert "<table" in answers[2].text and "<html" not in answers[2].text  # a partial
        assert "event: done" in answers[4].text
        for answer in answers:
            assert_protected(answer)
        # The graph page alone allows inline style (Mermaid's SVG), never inline script.
        assert_protected(http.get("/ui/workflows/default/human-approval"), inline_styles=True)


def test_the_chat_page_cannot_be_framed_either(ui_server: UiProcess) -> None:
    """Gradio's page needs inline script and style (its config is an inline <script>), so its
    policy allows them; framing, plugins and foreign sources stay refused."""
    with httpx.Client(base_url=ui_server.url, timeout=60) as http:
        page = http.get("/chat/")
        assert page.status_code == 200
        asset = re.search(r'src="([^"]+\.js)"', page.text)
        assert asset is not None, page.text[:2000]
        answers = [page, http.get(httpx.URL(f"{ui_server.url}/chat/").join(asset.group(1)))]
    for answer in answers:
        assert answer.status_code == 200, answer.request.url
        for name, value in FIXED.items():
            assert answer.headers.get(name) == value, (answer.request.url, name)
        csp = directives(answer)
        assert csp["frame-ancestors"] == "'none'"
        assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'"
        assert "unsafe-eval" not in answer.headers["content-security-policy"]


def test_templates_hold_no_inline_script_handler_or_style() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"{template.name}: inline <script>"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template.name}: an on*= handler"
        assert not re.search(r"\sstyle\s*=|<style", text), f"{template.name}: inline style"


def test_the_browser_enforces_the_policy(watched: Watched, gateway: GatewayProcess) -> None:
    """An injected inline script is refused: the policy is live, so the other browser tests
    finding no violation means the pages really work under it."""
    page = watched.page
    page.goto(f"{gateway.url}/ui/")
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    ran = page.evaluate(
        """() => {
        const s = document.createElement("script");
        s.textContent = "window.__injected = true";
        document.head.appendChild(s);
        return window.__injected === true;
    }"""
    )
    assert ran is False
    page.wait_for_timeout(200)  # the violation reports arrive asynchronously
    assert any("script-src" in line for line in watched.csp), watched.csp
    watched.csp.clear()  # expected here; any other violation still fails the test


@pytest.fixture
def framing_site(gateway: GatewayProcess) -> Iterator[tuple[str, str]]:
    """Another site (another loopback port) whose page frames the dashboard and a run page with
    approve and cancel buttons; yields its URL and the framed run's id."""
    with gateway.client() as client:
        run_id = client.post(
            "/v1/workflows/default/human-approval/runs", json={"input": {"topic": "framed"}}
        ).json()["id"]
    html = (
        "<!doctype html><title>another site</title><h1>Click here to win</h1>"
        f'<iframe id="home" src="{gateway.url}/ui/" width="600" height="300"></iframe>'
        f'<iframe id="run" src="{gateway.url}/ui/runs/{run_id}" width="600" height="300"></iframe>'
    ).encode()

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", run_id
    finally:
        server.shutdown()
        server.server_close()
        with gateway.client() as client:
            client.post(f"/v1/runs/{run_id}/cancel")


def test_another_site_cannot_frame_the_dashboard(
    browser: Browser, gateway: GatewayProcess, framing_site: tuple[str, str], artifacts: Path
) -> None:
    site, run_id = framing_site
    with watching(browser) as watched:
        page = watched.page
        refusals: list[str] = []
        page.on("console", lambda m: refusals.append(m.text) if "frame-ancestors" in m.text else 0)
        page.goto(site)
        expect(page.get_by_role("heading", name="Click here to win")).to_be_visible()
        page.wait_for_timeout(1000)
        frames = {f.name or f.url: f for f in page.frames if f != page.main_frame}
        assert len(frames) == 2, [f.url for f in page.frames]
        for frame in frames.values():
            # Chromium replaces a refused frame with its error page: nothing of the dashboard
            # (no approve or cancel button) is ever in it.
            assert frame.url == "chrome-error://chromewebdata/", frame.url
        assert len(refusals) == 2 and all("'none'" in r for r in refusals), refusals
        for frame in page.frames:
            assert frame.locator("#cancel-button, #resume-button").count() == 0
        page.screenshot(path=str(artifacts / "framed-refused.png"), full_page=True)
        watched.csp.clear()  # the two refusals are the point of this test
    with gateway.client() as client:
        assert client.get(f"/v1/runs/{run_id}").json()["status"] == "interrupted"


def test_the_session_cookie_is_secure_behind_a_tls_proxy(ui_server: UiProcess) -> None:
    """uvicorn trusts proxy headers from loopback (``FORWARDED_ALLOW_IPS``' default): a request
    forwarded as HTTPS gets a Secure cookie, a plain HTTP one does not (or it would be lost)."""
    for proto, secure in (("https", True), ("http", False), (None, False)):
        headers = {"X-Forwarded-Proto": proto} if proto else {}
        answer = httpx.get(f"{ui_server.url}/ui/", headers=headers, timeout=30)
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("ca_ui_session="), cookie
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert ("secure" in flags) is secure, (proto, cookie)
        assert {"httponly", "samesite=lax"} <= flags, cookie


def test_a_cookie_set_over_https_is_secure() -> None:
    """The same for a request that reached the app over TLS itself (the https scheme)."""
    app = create_dashboard(GatewayClient("http://127.0.0.1:9"), secret=b"s" * 32)
    for base, secure in (("https://dashboard.test", True), ("http://dashboard.test", False)):
        with TestClient(app, base_url=base) as client:
            answer = client.get("/")  # the gateway is not there: a 502 page, with a session
        assert answer.status_code == 502
        assert ("secure" in answer.headers["set-cookie"].lower()) is secure, base
        assert answer.headers["x-frame-options"] == "DENY"


def test_pages_are_not_cached_but_static_files_may_be(dashboard_url: str) -> None:
    page = httpx.get(f"{dashboard_url}/ui/runs", timeout=30)
    assert page.headers["Cache-Control"] == "no-store"
    static = httpx.get(f"{dashboard_url}/ui/static/dashboard.css", timeout=30)
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("Cache-Control", "")
