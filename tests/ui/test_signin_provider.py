"""The sign-in against a provider that misbehaves, and a browser that starts sign-in over and over.

A tiny OpenID provider on loopback serves discovery and a token endpoint that answers what each
test says (an HTML page, an error status); the dashboard app runs in-process. No Dex: what is
tested is how the dashboard takes the provider's answers, not the protocol (tests/ui/test_signin.py
does that against Dex).
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.integrations.starlette_client.integration import StarletteIntegration
from fastapi import FastAPI
from starlette.testclient import TestClient

from agent_runtime.ui import create_ui_app
from agent_runtime.ui.session import COOKIE, KEY, MAX_COOKIE
from agent_runtime.ui.signin_settings import load_signin_settings
from tests.processes import free_port
from tests.ui.signin_harness import CLIENT, CLIENT_SECRET, UI_SECRET, read_session

EXTERNAL = "http://127.0.0.1:8081"


class Provider(ThreadingHTTPServer):
    """Discovery and JWKS as a provider serves them; the token endpoint answers ``token``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token: tuple[int, str, str] = (400, "application/json", '{"error": "invalid_grant"}')
        self.token_requests = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Provider

    def _send(self, status: int, content_type: str, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        issuer = self.server.issuer
        if self.path == "/.well-known/openid-configuration":
            document = {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/auth",
                "token_endpoint": f"{issuer}/token",
                "jwks_uri": f"{issuer}/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
            self._send(200, "application/json", json.dumps(document))
        else:
            self._send(200, "application/json", '{"keys": []}')

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.token_requests += 1
        self._send(*self.server.token)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    server = Provider()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def dashboard(issuer: str, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    monkeypatch.setenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    settings = load_signin_settings(
        {"oidc_issuer_url": issuer, "oidc_client_id": CLIENT, "external_url": EXTERNAL}
    )
    return create_ui_app(
        "http://127.0.0.1:9", chat=False, secret=UI_SECRET.encode(), signin=settings
    )


@pytest.fixture
def browser(provider: Provider, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with TestClient(
        dashboard(provider.issuer, monkeypatch),
        base_url=EXTERNAL,
        follow_redirects=False,
        raise_server_exceptions=False,  # a server error is a 500 answer, as a browser sees it
    ) as client:
        yield client


def start(browser: TestClient, provider: Provider) -> str:
    """Start a sign-in; the state the provider is sent."""
    answer = browser.get("/ui/signin", params={"next": "/ui/runs"})
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.issuer}/auth"
    return parse_qs(location.query)["state"][0]


def shown(answer: object) -> str:
    return html.unescape(getattr(answer, "text", ""))


@pytest.fixture(params=["installed", "keeping"])
def authlib_states(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Authlib as installed (it drops its client's older states itself), or as its releases
    before mid-2024 were, keeping every state in the session until it expires."""
    if request.param == "keeping":

        async def set_state_data(self: Any, session: Any, state: str, data: Any) -> None:
            session[f"_state_{self.name}_{state}"] = {"data": data, "exp": time.time() + 3600}

        monkeypatch.setattr(StarletteIntegration, "set_state_data", set_state_data)


@pytest.mark.usefixtures("authlib_states")
def test_starting_sign_in_again_and_again_keeps_only_the_latest(
    browser: TestClient, provider: Provider
) -> None:
    """A browser that starts sign-in many times and never finishes keeps one pending state: the
    cookie does not grow until the browser drops it (which would make every sign-in fail)."""
    states = [start(browser, provider) for _ in range(8)]
    cookie = browser.cookies[COOKIE]
    session = read_session(cookie)
    pending = sorted(key for key in session if key.startswith("_state_"))
    assert pending == [f"_state_dashboard_{states[-1]}"], pending
    assert len(cookie) < MAX_COOKIE // 2
    stale = browser.get("/ui/signin/callback", params={"code": "c", "state": states[0]})
    assert stale.status_code == 401, stale.text
    assert "Sign-in failed" in shown(stale)


@pytest.mark.parametrize(
    ("token", "status", "says"),
    [
        (
            (200, "text/html", "<html>a proxy's login page</html>"),
            502,
            "the sign-in provider's token endpoint: Token endpoint response is not a JSON object",
        ),
        (
            (502, "text/html", "<html>Bad Gateway</html>"),
            502,
            "the sign-in provider did not answer: Server error '502 Bad Gateway'",
        ),
        (
            (500, "application/json", "{}"),
            502,
            "the sign-in provider did not answer: Server error '500 Internal Server Error'",
        ),
        (
            (200, "application/json", "[1, 2]"),
            502,
            "the sign-in provider's token endpoint: Token endpoint response is not a JSON object",
        ),
        (  # the control: an OAuth error answer was always a clean refusal
            (400, "application/json", '{"error": "invalid_grant"}'),
            401,
            "the sign-in did not complete (invalid_grant)",
        ),
    ],
)
def test_a_bad_token_endpoint_answer_is_a_clean_sign_in_error(
    browser: TestClient,
    provider: Provider,
    token: tuple[int, str, str],
    status: int,
    says: str,
) -> None:
    provider.token = token
    before = provider.token_requests
    state = start(browser, provider)
    answer = browser.get("/ui/signin/callback", params={"code": "c", "state": state})
    assert provider.token_requests == before + 1  # the code was exchanged
    assert answer.status_code == status, answer.text
    page = shown(answer)
    assert "Sign-in failed" in page and says in page, page
    assert "Traceback" not in page and "For more information" not in page
    assert KEY not in read_session(browser.cookies[COOKIE])  # nobody signed in


def test_an_unreachable_provider_is_a_clean_sign_in_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with TestClient(
        dashboard(issuer, monkeypatch),
        base_url=EXTERNAL,
        follow_redirects=False,
        raise_server_exceptions=False,
    ) as client:
        answer = client.get("/ui/signin")
    assert answer.status_code == 502, answer.text
    assert f"the sign-in provider at {issuer} did not answer" in shown(answer)
