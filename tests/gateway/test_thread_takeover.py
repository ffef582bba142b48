"""A conversation survives a gateway SIGKILL mid-turn: two gateways on one Postgres, a turn
executing on one when it is killed; the other takes the run over once its lease expires, the
turn finishes, and the next message on the thread continues the conversation."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import GatewayProcess
from tests.gateway.test_double_texting import ECHO, run_of, said, settled, user
from tests.operator_harness import eventually
from tests.processes import metric

pytestmark = pytest.mark.usefixtures("postgres_url")


def turn(gw: GatewayProcess, thread_id: str, text: str) -> str:
    sent = httpx.post(
        f"{gw.url}/v1/workflows/default/echo/runs",
        json={"input": user(text), "threadId": thread_id},
        timeout=30,
    )
    assert sent.status_code == 202, sent.text
    run_id: str = sent.json()["id"]
    return run_id


def test_a_thread_survives_a_gateway_killed_mid_turn(
    start_gateway: Callable[..., GatewayProcess], postgres_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "echo.yaml").write_text(ECHO.replace("delay: 2s", "delay: 6s"))
    flags = ("--lease-ttl", "2")
    one = start_gateway(postgres_url, *flags, workflows=folder)
    two = start_gateway(postgres_url, *flags, workflows=folder)
    thread_id = httpx.post(f"{one.url}/v1/threads", json={}, timeout=10).json()["id"]
    first = turn(one, thread_id, "hello")
    executing: list[GatewayProcess] = []

    def running() -> bool:
        run: dict[str, Any] = run_of(one, first) or {}
        owner = str(run.get("leaseOwner"))
        executing[:] = [g for g in (one, two) if owner.endswith(f"/{g.proc.pid}")]
        # mid-turn: its model call under way (so its first checkpoint is written)
        return run.get("status") == "running" and bool(executing) and bool(run.get("steps"))

    eventually(running, timeout=20)
    doomed = executing[0]
    survivor = two if doomed is one else one
    doomed.kill(signal.SIGKILL)

    done = settled(survivor, first)
    assert done is not None and done["status"] == "succeeded", done
    assert metric(survivor.url, "configurable_agents_lease_takeovers_total") >= 1
    events = httpx.get(f"{survivor.url}/v1/runs/{first}/events", timeout=30).text
    assert "run.resumed" in events  # taken over from its last checkpoint, not started again
    assert said(survivor, thread_id) == ["hello", "hello"]

    second = turn(survivor, thread_id, "and again")
    after = settled(survivor, second)
    assert after is not None and after["status"] == "succeeded", after
    assert [m["content"] for m in after["output"]["messages"]] == [
        "hello",
        "hello",
        "and again",
        "and again",
    ]
    assert said(survivor, thread_id) == ["hello", "hello", "and again", "and again"]
