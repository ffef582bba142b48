"""Agents take tasks only from the gateway: without its token, with someone else's, another
audience's or an expired one, the agent answers 401 before it reads the task, and nothing runs
(the gateway's own tokens going through: tests/gateway/test_task_tokens.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.harness import SECRET, AgentProcess, post_task, signed, start_secret_agent


@pytest.fixture
def secret_agent(tmp_path: Path) -> Iterator[AgentProcess]:
    agent = start_secret_agent(tmp_path)
    yield agent
    agent.stop()


@pytest.mark.parametrize(
    "case",
    [
        "no-token",
        "garbage",
        "another-secret",
        "another-audience",
        "expired-replay",
        "long-lived",
        "alg-none",
        "bad-body-no-token",
    ],
)
def test_an_agent_with_a_shared_secret_refuses_every_other_token(
    case: str, secret_agent: AgentProcess
) -> None:
    now = int(time.time())
    token: str | None = {
        "no-token": None,
        "garbage": "not-a-token",
        "another-secret": signed("another-secret-of-the-same-length-000000"),
        "another-audience": signed(SECRET, aud="something-else"),
        # a token caught on the wire, sent again after it expired
        "expired-replay": signed(SECRET, iat=now - 120, exp=now - 60),
        "long-lived": signed(SECRET, exp=now + 86_400),
        "alg-none": "eyJhbGciOiJub25lIn0.eyJpc3MiOiJjb25maWd1cmFibGUtYWdlbnRzLWdhdGV3YXkifQ.",
        "bad-body-no-token": None,
    }[case]
    body = {"not": "a task"} if case == "bad-body-no-token" else None
    answer = post_task(secret_agent, token, body)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert secret_agent.tasks_done() == 0
    if token:
        assert token not in secret_agent.log()
    assert SECRET not in secret_agent.log()
