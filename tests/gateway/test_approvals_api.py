"""Approvals over the Runs API, and a gateway killed between an approval and the gated call."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.agent.harness import AgentProcess
from tests.counting_tools import counts
from tests.gated_workflows import PAY_ONE
from tests.gateway.conftest import GatewayProcess
from tests.gateway.test_runs_api import error_of, settle

RUNS = "/v1/workflows/default/pay/runs"


def gated_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "pay.yaml").write_text(PAY_ONE)
    return folder


def steps_of(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    return list(client.get(f"/v1/runs/{run_id}").json()["steps"])


def test_approve_and_deny_over_http_with_clear_errors(
    start_gateway: Callable[..., GatewayProcess],
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: Any,
) -> None:
    monkeypatch.setenv("COUNTER_DIR", str(tmp_path / "counts"))
    gateway = start_gateway(sqlite_url, workflows=gated_folder(tmp_path))
    with gateway.client() as client:
        run_id = client.post(RUNS, json={}).json()["id"]
        run = settle(client, run_id, until={"interrupted"})
        [call] = run["interrupt"]["calls"]
        assert (run["interrupt"]["kind"], call["name"]) == ("approval", "charge")
        assert run["permissions"]["update"] is True

        bad = [
            (client.post(f"/v1/runs/{run_id}/approve", json={}), 422, "approved"),
            (
                client.post(f"/v1/runs/{run_id}/approve", json={"approved": True, "extra": 1}),
                422,
                "extra",
            ),
            (
                client.post(
                    f"/v1/runs/{run_id}/approve", json={"approved": True, "calls": {"x": True}}
                ),
                422,
                "calls.x",
            ),
            (client.post(f"/v1/runs/{run_id}/resume", json={"input": {}}), 409, "approve"),
            (client.post("/v1/runs/run-missing/approve", json={"approved": True}), 404, "run"),
        ]
        for response, status, named in bad:
            assert response.status_code == status, response.text
            assert named in error_of(response)["message"], response.text
        assert counts() == {}

        denied = client.post(f"/v1/runs/{run_id}/approve", json={"approved": False, "reason": "no"})
        assert denied.status_code == 202, denied.text
        done = settle(client, run_id, until={"succeeded", "failed"})
        assert done["status"] == "succeeded", done["error"]
        assert "a person denied this call of 'charge': no" in done["output"]["out"]
        assert [(a["tool"], a["approved"], a["comment"]) for a in done["approvals"]] == [
            ("charge", False, "no")
        ]
        again = client.post(f"/v1/runs/{run_id}/approve", json={"approved": True})
        assert again.status_code == 409, again.text
    assert counts() == {}


def test_gateway_killed_between_approval_and_call_runs_it_once_with_its_record(
    start_gateway: Callable[..., GatewayProcess],
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    """The approval is recorded; the call cannot run (its agent is down) before the gateway is
    SIGKILLed; another gateway runs it once, and the run shows who approved it."""
    folder = gated_folder(tmp_path)
    agent = AgentProcess(tmp_path, capabilities=("llm",))
    agent.wait_ready()
    agents = ["--agents", f"llm={agent.url}"]
    first = start_gateway(sqlite_url, *agents, workflows=folder)
    with first.client() as client:
        run_id = client.post(RUNS, json={}).json()["id"]
        settle(client, run_id, until={"interrupted"})
        agent.signal(signal.SIGKILL)
        agent.wait_stopped()
        approved = client.post(f"/v1/runs/{run_id}/approve", json={"approved": True})
        assert approved.status_code == 202, approved.text
        deadline = time.monotonic() + 30
        while not any(s["status"] == "pending" for s in steps_of(client, run_id)):
            assert time.monotonic() < deadline, steps_of(client, run_id)
            time.sleep(0.05)
    first.kill(signal.SIGKILL)
    assert not (agent.counter_dir / "charged").exists()

    restarted = AgentProcess(tmp_path, capabilities=("llm",), port=agent.port)
    restarted.wait_ready()
    try:
        second = start_gateway(sqlite_url, *agents, workflows=folder)
        with second.client() as client:
            done = settle(client, run_id, until={"succeeded", "failed"}, timeout=60)
        assert done["status"] == "succeeded", done["error"]
        assert (agent.counter_dir / "charged").read_text().count("x") == 1
        [record] = done["approvals"]
        assert record["approved"] is True and record["tool"] == "charge"
        assert record["by"]["username"]
    finally:
        restarted.stop()
