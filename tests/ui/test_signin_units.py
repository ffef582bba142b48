"""The sign-in's parts without a provider: settings checks, where ``next`` may lead, what a session
must hold, and the gate's answers (a stand-in provider says who is signed in)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import certifi
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from agent_runtime.ui import UiSecretError, create_ui_app
from agent_runtime.ui.session import EARLY, SignedIn, cookie_size, safe_next, session_key
from agent_runtime.ui.signin_gate import SignInGate
from agent_runtime.ui.signin_settings import (
    SignInSettingsError,
    load_signin_settings,
)

ISSUER = "https://login.example.com/dex"
GOOD = {
    "oidc_issuer_url": ISSUER,
    "oidc_client_id": "dashboard",
    "external_url": "https://agents.example.com/",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("CONFIGURABLE_AGENTS_UI_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_without_an_issuer_sign_in_is_off() -> None:
    assert not load_signin_settings({}).enabled


def test_a_complete_configuration_from_flags_and_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET", "s3cret")
    settings = load_signin_settings(GOOD)
    assert settings.enabled
    assert settings.client_secret() == "s3cret"
    assert settings.redirect_uri("/ui") == "https://agents.example.com/ui/signin/callback"
    assert settings.oidc_scopes == "openid email profile offline_access"
    assert "s3cret" not in repr(settings)
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_OIDC_ISSUER_URL", ISSUER)
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_ID", "from-env")
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_EXTERNAL_URL", "http://127.0.0.1:8081")
    from_env = load_signin_settings({})
    assert from_env.oidc_client_id == "from-env"
    assert load_signin_settings({"oidc_client_id": "flag"}).oidc_client_id == "flag"


@pytest.mark.parametrize(
    ("flags", "env", "says"),
    [
        ({"oidc_client_id": "x"}, {}, "OIDC_CLIENT_ID is set but"),
        (GOOD, {}, "needs CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET"),
        ({**GOOD, "oidc_issuer_url": "http://login.example.com"}, {"SECRET": "s"}, "https://"),
        ({**GOOD, "external_url": "http://agents.example.com"}, {"SECRET": "s"}, "https://"),
        ({**GOOD, "external_url": "https://a.example.com/?x=1"}, {"SECRET": "s"}, "query"),
        ({**GOOD, "oidc_scopes": "email"}, {"SECRET": "s"}, "must include 'openid'"),
        ({**GOOD, "oidc_client_secret": "on-the-command-line"}, {}, "never a flag"),
    ],
)
def test_wrong_configurations_are_one_line_naming_the_setting(
    clean_env: pytest.MonkeyPatch, flags: dict[str, str], env: dict[str, str], says: str
) -> None:
    if "SECRET" in env:
        clean_env.setenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET", env["SECRET"])
    with pytest.raises(SignInSettingsError, match=says) as caught:
        load_signin_settings(flags)
    assert "\n" not in str(caught.value)


def test_loopback_http_is_allowed_for_local_use(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET", "s")
    settings = load_signin_settings(
        {**GOOD, "oidc_issuer_url": "http://127.0.0.1:5556/dex", "external_url": "http://[::1]:9"}
    )
    assert settings.oidc_issuer_url == "http://127.0.0.1:5556/dex"


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("/ui/runs?status=failed", "/ui/runs?status=failed"),
        ("/chat/", "/chat/"),
        ("https://evil.example/", None),
        ("//evil.example/x", None),
        ("/\\evil.example", None),
        ("ui/runs", None),
        ("/ui/\r\nSet-Cookie: x", None),
        (None, None),
    ],
)
def test_next_is_only_ever_a_path_on_this_site(value: object, safe: str | None) -> None:
    assert safe_next(value) == safe


@pytest.mark.parametrize(
    "held",
    [
        None,
        "a string",
        {"user": "a", "id": "t"},  # no expiry
        {"user": "a", "id": "t", "exp": "soon"},
        {"user": 1, "id": "t", "exp": 2},
    ],
)
def test_a_session_not_of_the_shape_written_is_no_sign_in(held: Any) -> None:
    assert SignedIn.from_session({"signin": held} if held is not None else {}) is None


def test_a_token_counts_as_expired_a_little_early() -> None:
    signed_in = SignedIn("a", "t", expires_at=1000)
    assert signed_in.fresh(now=1000 - EARLY - 1)
    assert not signed_in.fresh(now=1000 - EARLY)
    assert SignedIn.from_session({"signin": signed_in.to_session()}) == signed_in
    assert cookie_size({"signin": signed_in.to_session()}) < 200


def test_the_session_key_is_derived_from_the_ui_secret_alike_on_every_replica() -> None:
    """Replicas sharing CONFIGURABLE_AGENTS_UI_SECRET sign sessions alike; another secret (or the
    secret itself, which signs CSRF tokens) is another key."""
    assert session_key(b"k" * 32) == session_key(b"k" * 32)
    assert session_key(b"k" * 32) != session_key(b"j" * 32)
    assert "k" * 16 not in session_key(b"k" * 32)


class StandIn:
    """A provider that says the session's ``signin`` holds whoever is signed in."""

    async def current(self, session: dict[str, Any]) -> SignedIn | None:
        return SignedIn.from_session(session)


def gated(session: dict[str, Any]) -> TestClient:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"authorization": request.headers.get("authorization")})

    inner = Starlette(routes=[Route("/{path:path}", echo)])
    gate = SignInGate(
        inner,
        provider=StandIn(),  # type: ignore[arg-type]
        signin_path=lambda scope: "/ui/signin",
        open_paths=("/static", "/signin"),
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["session"] = session
        await gate(scope, receive, send)

    return TestClient(app, follow_redirects=False)


def test_the_gate_swaps_any_incoming_authorization_for_the_sessions_token() -> None:
    client = gated({"signin": SignedIn("alice", "alices-id-token", 2**40).to_session()})
    answer = client.get("/ui/runs", headers={"Authorization": "Bearer someone-elses"})
    assert answer.json() == {"authorization": "Bearer alices-id-token"}
    # Open paths pass without the session's credential, and without the caller's.
    answer = client.get("/static/x.css", headers={"Authorization": "Bearer someone-elses"})
    assert answer.json() == {"authorization": None}


def test_the_gate_sends_pages_to_sign_in_and_refuses_the_rest() -> None:
    client = gated({})
    page = client.get("/ui/runs?status=failed", headers={"Sec-Fetch-Mode": "navigate"})
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/signin?next=%2Fui%2Fruns%3Fstatus%3Dfailed"
    assert client.get("/ui/", headers={"Accept": "text/html"}).status_code == 303
    for headers in ({"Accept": "application/json"}, {"Sec-Fetch-Mode": "cors"}):
        answer = client.get("/ui/runs", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "signin_required"
    # A form posted after the session ended: sign in, back to the form's page (not replayed).
    posted = client.post(
        "/ui/runs/r/cancel",
        headers={"Sec-Fetch-Mode": "navigate", "Referer": "http://testserver/ui/runs/r"},
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == "/ui/signin?next=%2Fui%2Fruns%2Fr"
    assert client.post("/ui/runs/r/cancel").status_code == 401
    htmx = client.get(
        "/ui/runs", headers={"HX-Request": "true", "HX-Current-URL": "http://h/ui/runs?x=1"}
    )
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/ui/signin?next=%2Fui%2Fruns%3Fx%3D1"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read it: No such file or directory"),
        ("not a certificate\n", "not a PEM file of CA certificates"),
        ("", "not a PEM file of CA certificates"),
        ("dir", "cannot read it: Is a directory"),
    ],
)
def test_a_wrong_ca_file_is_one_line_naming_the_flag(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, content: str | None, says: str
) -> None:
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET", "s")
    path = tmp_path / "ca.pem"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SignInSettingsError) as caught:
        load_signin_settings({**GOOD, "oidc_ca_file": str(path)})
    message = str(caught.value)
    assert message == (
        f"--ui-oidc-ca-file (CONFIGURABLE_AGENTS_UI_OIDC_CA_FILE): {path}: {says}"
    ), message


def test_a_pem_ca_file_is_accepted(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET", "s")
    bundle = Path(ssl.get_default_verify_paths().cafile or certifi.where())
    settings = load_signin_settings({**GOOD, "oidc_ca_file": str(bundle)})
    assert settings.oidc_ca_file == str(bundle)


def test_sign_in_requires_the_ui_secret(clean_env: pytest.MonkeyPatch) -> None:
    """A random per-process key would sign sessions no other replica (and no restart) accepts."""
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET", "s")
    settings = load_signin_settings(GOOD)
    with pytest.raises(UiSecretError) as caught:
        create_ui_app("http://127.0.0.1:9", chat=False, signin=settings)
    message = str(caught.value)
    assert message.startswith("CONFIGURABLE_AGENTS_UI_SECRET: required with sign-in")
    assert "\n" not in message
    clean_env.setenv("CONFIGURABLE_AGENTS_UI_SECRET", "a-shared-secret-0123456789")
    assert create_ui_app("http://127.0.0.1:9", chat=False, signin=settings)
    clean_env.delenv("CONFIGURABLE_AGENTS_UI_SECRET")
    clean_env.delenv("CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET")
    # without sign-in a random key still does (forms only; a reload mends a stale one)
    assert create_ui_app("http://127.0.0.1:9", chat=False, signin=load_signin_settings({}))
