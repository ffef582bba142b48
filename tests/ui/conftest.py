"""Browser tests of the dashboard and the chat page: real gateway and UI processes on loopback,
driven by Debian's Chromium through Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.conftest import EXAMPLES, REPO
from tests.gateway.conftest import GatewayProcess
from tests.processes import free_port, stop, wait_healthy
from tests.ui import dex_harness
from tests.ui.signin_harness import dex_bin, signin_stack  # noqa: F401 - sign-in tests' fixtures

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HERE = Path(__file__).parent
_artifact_dirs: list[Path] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build Dex before any test runs when one needs it (minutes once), outside test timeouts."""
    if any("signin_stack" in getattr(item, "fixturenames", ()) for item in session.items):
        dex_harness.prepare(session.config)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in _artifact_dirs:
        terminalreporter.write_line(f"dashboard screenshots: {path}")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots of every page: under $CONFIGURABLE_AGENTS_ARTIFACTS, else pytest's tmp dir."""
    chosen = os.environ.get("CONFIGURABLE_AGENTS_ARTIFACTS")
    path = Path(chosen) / "ui" if chosen else tmp_path_factory.mktemp("ui-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    _artifact_dirs.append(path)
    print(f"dashboard screenshots: {path}")
    return path


@pytest.fixture(scope="session")
def workflows_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples plus this suite's workflows (slow, failing, typed, chat, invalid)."""
    folder = tmp_path_factory.mktemp("ui-workflows")
    for example in EXAMPLES.glob("*/workflow.yaml"):
        shutil.copy(example, folder / f"{example.parent.name}.yaml")
    for extra in (HERE / "workflows").glob("*.yaml"):
        shutil.copy(extra, folder / extra.name)
    return folder


@pytest.fixture(scope="session")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, workflows_dir: Path
) -> Iterator[GatewayProcess]:
    """``configurable-agents serve``: the Runs API with the dashboard embedded at /ui/."""
    workdir = tmp_path_factory.mktemp("ui-gateway")
    started = GatewayProcess(f"sqlite:///{workdir / 'runs.db'}", workdir, workflows=workflows_dir)
    yield started
    started.kill(signal.SIGTERM)


class UiProcess:
    """``configurable-agents ui --gateway URL``: the dashboard and chat as a sidecar would run."""

    def __init__(
        self, gateway_url: str, workdir: Path, *extra: str, env: dict[str, str] | None = None
    ) -> None:
        self.gateway_url = gateway_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"ui-{self.port}.log"
        env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent_runtime",
                    "ui",
                    "--gateway",
                    gateway_url,
                    "--port",
                    str(self.port),
                    *extra,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(self.proc, f"{self.url}/healthz", self.log, what="ui server", timeout=60)

    def stop(self) -> None:
        stop(self.proc, signal.SIGTERM)


@pytest.fixture(scope="session")
def ui_server(
    tmp_path_factory: pytest.TempPathFactory, gateway: GatewayProcess
) -> Iterator[UiProcess]:
    started = UiProcess(gateway.url, tmp_path_factory.mktemp("ui-server"))
    yield started
    started.stop()


# Package scope: Playwright's sync API runs an event loop in this thread while it is open, which
# would stop async tests collected after tests/ui.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run `bash hack/system-packages.sh`"
        if os.environ.get("CONFIGURABLE_AGENTS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


#: Reports each violation of the page's Content-Security-Policy on the console (Chromium also
#: logs its own "Refused to ..." line; this one names the directive even for report-only cases).
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (e) => console.error(
  `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.documentURI}`
));
"""


def csp_message(message: ConsoleMessage) -> bool:
    text = message.text
    return message.type == "error" and (
        "Content Security Policy" in text or text.startswith("CSP violation")
    )


class Watched:
    """A browser page that records requests off this machine, script errors and CSP violations."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.external: list[str] = []
        self.errors: list[str] = []
        self.csp: list[str] = []
        page.add_init_script(REPORT_CSP)
        page.on("console", lambda m: self.csp.append(m.text) if csp_message(m) else None)


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in (
        "127.0.0.1",
        "localhost",
        "::1",
    )


@contextmanager
def watching(browser: Browser, **context_options: Any) -> Iterator[Watched]:
    """A page in a fresh browser context; at the end, no request may have left the machine,
    and no script error or CSP violation may have happened. ``context_options`` go to
    ``new_context`` (e.g. ``extra_http_headers``, as a sign-in proxy adds to every request)."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_options})
    page = context.new_page()
    page.set_default_timeout(20_000)
    out = Watched(page)
    page.on("request", lambda r: None if _loopback(r.url) else out.external.append(r.url))
    page.on("pageerror", lambda e: out.errors.append(str(e)))
    try:
        yield out
    finally:
        context.close()
    assert out.external == [], f"pages made requests off this machine: {out.external}"
    assert out.errors == [], f"script errors on the page: {out.errors}"
    assert out.csp == [], f"the pages broke their Content-Security-Policy: {out.csp}"


@pytest.fixture
def watched(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Watched]:
    """A fresh watched page (desktop size, or the size given as the fixture's parameter)."""
    size = getattr(request, "param", {"width": 1280, "height": 900})
    with watching(browser, viewport=size) as out:
        yield out
