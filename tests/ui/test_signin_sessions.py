"""The sign-in's session over plain HTTP: expiry and refresh, forged and tampered cookies, the
callback's checks, what signed-out requests get, and the cookie's flags behind TLS.

The same stack as ``test_signin`` (Dex, RBAC, ``serve --auth oidc`` with the dashboard signing
in with Dex); sessions are made by signing in through Dex's form with httpx, then read or forged
with the UI secret the test gave the server.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from agent_runtime.ui.session import COOKIE
from tests.ui.signin_harness import (
    CLIENT,
    CLIENT_SECRET,
    SignInStack,
    http_sign_in,
    read_session,
    session_of,
    write_session,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
PAGE = {"Accept": "text/html"}


def visit(stack: SignInStack, cookie: str | None, path: str = "/ui/runs") -> httpx.Response:
    """A browser opening ``path`` with ``cookie`` as its session (redirects not followed)."""
    cookies = {COOKIE: cookie} if cookie else {}
    with httpx.Client(base_url=stack.gateway.url, cookies=cookies, timeout=30) as client:
        return client.get(path, headers=PAGE)


def sent_to_sign_in(answer: httpx.Response, path: str = "/ui/runs") -> bool:
    return answer.status_code == 303 and answer.headers["location"] == (
        "/ui/signin?" + str(httpx.QueryParams({"next": path}))
    )


def cleared(answer: httpx.Response) -> bool:
    return any(
        v.startswith(f"{COOKIE}=null;") and "1970" in v
        for v in answer.headers.get_list("set-cookie")
    )


def with_signin(session: dict[str, Any], **changes: Any) -> dict[str, Any]:
    held = {**session["signin"], **changes}
    return {"signin": {k: v for k, v in held.items() if v is not None}}


def test_an_expired_id_token_is_refreshed_with_the_refresh_token(
    signin_stack: SignInStack,
) -> None:
    stack = signin_stack
    with http_sign_in(stack.gateway.url, stack.dex, "alice") as alice:
        session = session_of(alice)
    expired = write_session(with_signin(session, exp=int(time.time()) - 5))
    answer = visit(stack, expired)
    assert answer.status_code == 200, answer.text[:2000]
    assert "Signed in as <strong>alice@example.com" in answer.text
    renewed = read_session(answer.cookies[COOKIE])["signin"]
    assert renewed["exp"] > time.time() + 600
    assert renewed["id"] != session["signin"]["id"]
    assert renewed["refresh"] != session["signin"]["refresh"]  # Dex rotates refresh tokens
    # The new ID token is good at the gateway: the page listed alice's namespace's runs.
    assert "run_not_found" not in answer.text and "Sign in required" not in answer.text


def test_an_expired_session_that_cannot_be_refreshed_signs_in_again(
    signin_stack: SignInStack,
) -> None:
    stack = signin_stack
    with http_sign_in(stack.gateway.url, stack.dex, "alice") as alice:
        session = session_of(alice)
    past = int(time.time()) - 5
    for forged in (
        with_signin(session, exp=past, refresh=None),  # the provider gave no refresh token
        with_signin(session, exp=past, refresh="ChlvbmUtdGhhdC1kZXgtbmV2ZXItZ2F2ZQ"),
    ):
        answer = visit(stack, write_session(forged))
        assert sent_to_sign_in(answer), (answer.status_code, answer.headers)
        assert cleared(answer), answer.headers.get_list("set-cookie")


def test_tampered_and_foreign_session_cookies_are_no_session(signin_stack: SignInStack) -> None:
    stack = signin_stack
    with http_sign_in(stack.gateway.url, stack.dex, "alice") as alice:
        real = alice.cookies[COOKIE]
        session = session_of(alice)
    payload, _, rest = real.partition(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    for cookie in (
        f"{flipped}.{rest}",  # one byte of the payload changed
        write_session(session, secret="another-secret-of-another-install"),
        "not-a-session-at-all",
    ):
        answer = visit(stack, cookie)
        assert sent_to_sign_in(answer), (cookie[:20], answer.status_code, answer.headers)


def test_a_forged_id_token_in_a_validly_signed_session_is_refused_by_the_gateway(
    signin_stack: SignInStack,
) -> None:
    """Whoever knows the UI secret still cannot act as anyone: the gateway verifies the token."""
    stack = signin_stack
    now = int(time.time())
    claims = {
        "iss": stack.dex.issuer,
        "aud": CLIENT,
        "sub": "forged",
        "email": "alice@example.com",
        "iat": now,
        "exp": now + 3600,
    }
    forged_token = jwt.encode({"alg": "RS256", "kid": "forged"}, claims, RSAKey.generate_key(2048))
    forged = {"signin": {"user": "alice@example.com", "id": forged_token, "exp": now + 3600}}
    answer = visit(stack, write_session(forged), "/ui/")
    assert answer.status_code == 401, answer.text[:2000]
    assert "Sign in required" in answer.text
    assert 'id="signin-again"' in answer.text and "/ui/signin?next=%2Fui%2F" in answer.text
    # bob's real token under alice's name: the name is only shown; the gateway sees bob.
    with http_sign_in(stack.gateway.url, stack.dex, "bob") as bob:
        bobs = with_signin(session_of(bob), user="alice@example.com")
    answer = visit(stack, write_session(bobs), "/ui/")
    assert answer.status_code == 200
    assert f'data-workflow="{stack.tenancy.a}/' not in answer.text
    assert f'data-workflow="{stack.tenancy.b}/chain"' in answer.text


def test_signed_out_requests_are_sent_to_sign_in_or_refused(signin_stack: SignInStack) -> None:
    stack = signin_stack
    url = stack.gateway.url
    with httpx.Client(base_url=url, timeout=30) as client:
        # An htmx request (the runs filter): 401, and htmx goes to sign-in for the page shown.
        answer = client.get(
            "/ui/runs",
            params={"status": "failed"},
            headers={"HX-Request": "true", "HX-Current-URL": f"{url}/ui/runs?status=failed"},
        )
        assert answer.status_code == 401
        assert answer.headers["HX-Redirect"] == "/ui/signin?next=%2Fui%2Fruns%3Fstatus%3Dfailed"
        # The run page's live feed and the chat's API calls: a plain 401.
        for path in ("/ui/runs/run-x/live", "/chat/config"):
            answer = client.get(path, headers={"Accept": "text/event-stream, application/json"})
            assert answer.status_code == 401, path
            assert answer.json()["error"]["code"] == "signin_required"
        # The chat page itself: to sign in, and back to the chat.
        answer = client.get("/chat/", headers=PAGE)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/signin?next=%2Fchat%2F"
        # The dashboard's own files need no session.
        assert client.get("/ui/static/dashboard.css").status_code == 200
    # A bearer token of the browser's own is not a session: only the sign-in counts here.
    token = stack.dex.id_token("alice", CLIENT)
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}", **PAGE}, timeout=30
    ) as client:
        assert sent_to_sign_in(client.get("/ui/runs"))
    # ...and the session is no credential for the Runs API, whose callers send a token.
    with http_sign_in(url, stack.dex, "alice") as alice:
        assert alice.get("/ui/runs", headers=PAGE).status_code == 200
        assert alice.get("/v1/workflows").status_code == 401


def test_the_callback_refuses_a_forged_or_replayed_state_and_provider_errors(
    signin_stack: SignInStack,
) -> None:
    stack = signin_stack
    url = stack.gateway.url
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/ui/signin", params={"next": "/ui/runs"}).status_code == 302
        answer = client.get("/ui/signin/callback", params={"code": "made-up", "state": "forged"})
        assert answer.status_code == 401
        assert "Sign-in failed" in answer.text and "mismatching_state" in answer.text
        assert "signin" not in read_session(client.cookies[COOKIE])
        started = client.get("/ui/signin")
        state = httpx.URL(started.headers["location"]).params["state"]
        answer = client.get(
            "/ui/signin/callback",
            params={
                "error": "access_denied",
                "error_description": "the user said no",
                "state": state,
            },
        )
        assert answer.status_code == 401 and "the user said no" in answer.text
    # A real sign-in's callback, replayed: its state is spent.
    with http_sign_in(url, stack.dex, "alice") as alice:
        replayed = alice.get(alice.last_callback)  # type: ignore[attr-defined]
        assert replayed.status_code == 401, replayed.text[:1000]
        assert "Sign-in failed" in replayed.text
    # ``next`` never leads off this site.
    for away in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        with http_sign_in(url, stack.dex, "alice", path=away, back="/ui/") as alice:
            assert session_of(alice)["signin"]["user"] == "alice@example.com"


def test_the_session_cookie_is_secure_behind_tls(signin_stack: SignInStack) -> None:
    """Behind a TLS-terminating proxy (X-Forwarded-Proto: https) the cookie is Secure."""
    with httpx.Client(base_url=signin_stack.gateway.url, timeout=30) as client:
        answer = client.get("/ui/signin", headers={"X-Forwarded-Proto": "https"})
    assert answer.status_code == 302
    [cookie] = [v for v in answer.headers.get_list("set-cookie") if v.startswith(f"{COOKIE}=")]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/", "secure"} <= flags, cookie


def test_no_token_or_client_secret_reaches_the_log(signin_stack: SignInStack) -> None:
    stack = signin_stack
    with http_sign_in(stack.gateway.url, stack.dex, "carol") as carol:
        session = session_of(carol)["signin"]
        assert carol.get("/ui/runs", headers=PAGE).status_code == 200
    log = stack.gateway.log.read_text(errors="replace")
    for secret in (CLIENT_SECRET, session["id"], session["refresh"]):
        assert secret not in log
    assert "Traceback" not in log
