"""The OIDC verifier against a real issuer served over loopback HTTP: discovery, JWKS, key rotation
and the tokens an attacker would try (another audience, expired, ``alg: none``, HMAC signed with
the public key, another issuer)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agent_runtime.auth import (
    Authenticator,
    AuthUnavailable,
    OidcSettings,
    OidcVerifier,
    Unauthenticated,
)
from tests.processes import free_port


class Issuer:
    """An OpenID provider's public side: discovery and JWKS, with keys the test rotates."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)]
        self.jwks_requests = 0
        app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/keys", self.jwks),
            ]
        )
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def discovery(self, _: Request) -> JSONResponse:
        return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/keys"})

    async def jwks(self, _: Request) -> JSONResponse:
        self.jwks_requests += 1
        return JSONResponse(KeySet(list(self.keys)).as_dict(private=False))

    def token(self, key: RSAKey | None = None, **claims: Any) -> str:
        key = key or self.keys[-1]
        now = int(time.time())
        body = {"iss": self.url, "aud": "gateway", "sub": "alice", "iat": now, "exp": now + 600}
        body.update(claims)
        return jwt.encode({"alg": "RS256", "kid": key.kid}, body, key)

    def rotate(self) -> RSAKey:
        new = RSAKey.generate_key(2048, parameters={"kid": f"k{len(self.keys) + 1}"}, private=True)
        self.keys = [new]
        return new


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    started = Issuer()
    started.thread.start()
    while not started.server.started:
        time.sleep(0.01)
    yield started
    started.server.should_exit = True
    started.thread.join(timeout=5)


def verifier(issuer: Issuer, **settings: Any) -> OidcVerifier:
    return OidcVerifier(
        OidcSettings(issuer_url=issuer.url, audience="gateway", **settings), refresh_interval=0.2
    )


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_a_valid_token_names_its_user_and_groups_with_the_prefixes(issuer: Issuer) -> None:
    v = verifier(issuer, username_prefix="oidc:", groups_prefix="oidc:")
    found = await v.authenticate(issuer.token(groups=["team-a", "ops"]))
    assert found is not None
    assert (found.username, found.groups) == ("oidc:alice", ("oidc:team-a", "oidc:ops"))
    # kube-apiserver's default: the issuer prefixes usernames that are not emails
    default = await verifier(issuer).authenticate(issuer.token())
    assert default is not None and default.username == f"{issuer.url}#alice"
    await v.aclose()


async def test_rotated_keys_are_fetched_once_and_old_keys_stop_working(issuer: Issuer) -> None:
    v = verifier(issuer)
    assert await v.authenticate(issuer.token()) is not None
    assert issuer.jwks_requests == 1
    old = issuer.keys[0]
    new = issuer.rotate()
    await asyncio.sleep(0.25)  # past the refresh interval
    assert await v.authenticate(issuer.token(new, sub="bob")) is not None
    assert issuer.jwks_requests == 2
    # a token signed with the retired key (not seen before) is refused
    assert await v.authenticate(issuer.token(old, sub="carol")) is None
    # many tokens naming unknown keys fetch at most once per refresh interval
    v.refresh_interval = 60.0
    before = issuer.jwks_requests
    stranger = RSAKey.generate_key(2048, parameters={"kid": "x"}, private=True)
    for i in range(50):
        forged = jwt.encode(
            {"alg": "RS256", "kid": f"x{i}"}, {"iss": issuer.url, "sub": "s"}, stranger
        )
        assert await v.authenticate(forged) is None
    assert issuer.jwks_requests == before
    await v.aclose()


@pytest.mark.parametrize(
    "attack",
    ["another-audience", "expired", "another-issuer", "alg-none", "hmac-with-public-key", "no-sub"],
)
async def test_tokens_an_attacker_would_try_are_refused(issuer: Issuer, attack: str) -> None:
    v = verifier(issuer)
    key = issuer.keys[0]
    if attack == "another-audience":
        token = issuer.token(aud="someone-else")
    elif attack == "expired":
        token = issuer.token(exp=int(time.time()) - 300)
    elif attack == "another-issuer":
        token = issuer.token(iss="http://127.0.0.1:1")
    elif attack == "alg-none":
        token = (
            _b64({"alg": "none"})
            + "."
            + _b64({"iss": issuer.url, "aud": "gateway", "sub": "x", "exp": int(time.time()) + 60})
            + "."
        )
    elif attack == "hmac-with-public-key":
        # the classic confusion: HMAC keyed with the provider's public key (libraries that
        # take the key's type from the token's header accept it)
        signing_input = (
            _b64({"alg": "HS256", "kid": key.kid})
            + "."
            + _b64({"iss": issuer.url, "aud": "gateway", "sub": "x", "exp": int(time.time()) + 60})
        )
        mac = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256)
        token = signing_input + "." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    else:
        token = issuer.token(sub="")
    assert await v.authenticate(token) is None
    with pytest.raises(Unauthenticated):
        await Authenticator(oidc=v).authenticate(f"Bearer {token}")
    await v.aclose()


async def test_an_unreachable_issuer_is_unavailable_not_unauthenticated() -> None:
    v = OidcVerifier(OidcSettings(issuer_url=f"http://127.0.0.1:{free_port()}", audience="x"))
    with pytest.raises(AuthUnavailable):
        await v.authenticate(jwt.encode({"alg": "RS256"}, {"sub": "x"}, RSAKey.generate_key(2048)))
    await v.aclose()
