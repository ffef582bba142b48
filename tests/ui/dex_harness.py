"""Dex, a real OpenID provider, on a loopback port for the dashboard's sign-in tests.

The binary is the pinned build of ``hack/build-dex.sh`` (``make test`` builds it; a test session
that needs it builds it once at collection unless CONFIGURABLE_AGENTS_NO_BUILD is set). When it
can be neither found nor built, the tests that need it are skipped with the reason, or fail when
CONFIGURABLE_AGENTS_REQUIRE_DEX is set. Dex runs with in-memory storage, static password users
(``USERS``) and static clients; its login form is Dex's own, filled in by the browser tests.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.built_programs import BuiltProgram
from tests.processes import free_port, stop, wait_healthy


@dataclass(frozen=True)
class User:
    email: str
    password: str
    #: bcrypt of ``password`` (cost 10), as Dex's static passwords want it.
    hash: str
    user_id: str


USERS = {
    "alice": User(
        "alice@example.com",
        "alice-password",
        "$2a$10$bUxGjvJG3DYJ0MZHCUCdferRA7BefQ8N36lNbo8NdiCWmhNouRVjy",
        "2f6bd4a4-7c1e-4f55-9d3e-0a1e5c1d0a01",
    ),
    "bob": User(
        "bob@example.com",
        "bob-password",
        "$2a$10$JwNTZcxBVQH3G6q9jBdpWe9EiYEHPwCxGGMHDNNaJ4sUf0R7qez9q",
        "2f6bd4a4-7c1e-4f55-9d3e-0a1e5c1d0a02",
    ),
    "carol": User(
        "carol@example.com",
        "carol-password",
        "$2a$10$mdgNIv4CBekUuE4KzRI1e.zyUsgL148fdbzQggUt2ByyTgEvFmZcy",
        "2f6bd4a4-7c1e-4f55-9d3e-0a1e5c1d0a03",
    ),
}

DEX = BuiltProgram(
    "Dex", "build-dex.sh", "CONFIGURABLE_AGENTS_REQUIRE_DEX", build_time="a few minutes"
)
#: The binary, built when missing; or why there is none (once per process).
prepare = DEX.prepare


def dex_binary(config: pytest.Config | None = None) -> Path:
    """The binary, or the test is skipped (failed with CONFIGURABLE_AGENTS_REQUIRE_DEX)."""
    return DEX.binary(config)


@dataclass(frozen=True)
class Client:
    id: str
    secret: str
    redirect_uris: list[str]


class Dex:
    """``dex serve`` with ``clients`` and the users of ``USERS``, issuer ``http://127.0.0.1:PORT/dex``."""

    def __init__(self, binary: Path, workdir: Path, clients: list[Client]) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/dex"
        self.clients = {c.id: c for c in clients}
        self.log = workdir / f"dex-{self.port}.log"
        config: dict[str, Any] = {
            "issuer": self.issuer,
            "storage": {"type": "memory"},
            "web": {"http": f"127.0.0.1:{self.port}"},
            "logger": {"level": "info"},
            # Straight to the password form, no consent page; the password grant lets tests
            # get a user's ID token without a browser, for checks against the Runs API.
            "oauth2": {"skipApprovalScreen": True, "passwordConnector": "local"},
            "enablePasswordDB": True,
            "expiry": {"idTokens": "1h"},
            "staticPasswords": [
                {"email": u.email, "hash": u.hash, "username": name, "userID": u.user_id}
                for name, u in USERS.items()
            ],
            "staticClients": [
                {"id": c.id, "secret": c.secret, "name": c.id, "redirectURIs": c.redirect_uris}
                for c in clients
            ],
        }
        path = workdir / f"dex-{self.port}.yaml"
        path.write_text(yaml.safe_dump(config))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(binary), "serve", str(path)], stdout=out, stderr=subprocess.STDOUT
            )
        wait_healthy(
            self.proc,
            f"{self.issuer}/.well-known/openid-configuration",
            self.log,
            what="dex",
            timeout=30,
        )

    def id_token(self, user: str, client: str) -> str:
        """``user``'s ID token for ``client``, by the password grant (no browser)."""
        chosen = self.clients[client]
        answer = httpx.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "password",
                "username": USERS[user].email,
                "password": USERS[user].password,
                "scope": "openid email profile",
            },
            auth=(chosen.id, chosen.secret),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id_token"])

    def stop(self) -> None:
        stop(self.proc, signal.SIGTERM)
