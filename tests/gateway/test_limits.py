"""Limits on starting runs hold across two gateway replicas sharing one Postgres: a caller's
rate (429 with Retry-After beyond its burst, whichever replica is asked), and a namespace's cap
on runs in flight (the rest wait queued, or are refused when the caller asks)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import GatewayProcess, slow_workflow
from tests.processes import metric

pytestmark = pytest.mark.slow


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    return slow_workflow(tmp_path / "workflows", namespace="team")


def create(gateway: GatewayProcess, **body: object) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/workflows/team/slow/runs",
        json={"input": {"topic": "x"}, **body},
        timeout=30,
    )


def test_a_callers_rate_holds_across_replicas(
    start_gateway: Callable[..., GatewayProcess], postgres_url: str, workflows: Path
) -> None:
    env = {
        "CONFIGURABLE_AGENTS_CALLER_RUN_RATE": "0.1",
        "CONFIGURABLE_AGENTS_CALLER_RUN_BURST": "4",
    }
    replicas = [start_gateway(postgres_url, workflows=workflows, env=env) for _ in range(2)]
    started = time.monotonic()
    answers = [create(replicas[i % 2]) for i in range(12)]
    elapsed = time.monotonic() - started
    accepted = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code == 429]
    assert len(accepted) + len(refused) == 12
    # the burst, plus one token for each 10 s the test took (none, on any machine of this kind)
    assert 4 <= len(accepted) <= 4 + int(elapsed / 10), (len(accepted), elapsed)
    for answer in refused:
        assert answer.json()["error"]["code"] == "rate_limited"
        assert answer.json()["error"]["details"] == {"limit": "caller_rate"}
        assert 1 <= int(answer.headers["Retry-After"]) <= 10
    counted = sum(
        metric(
            g.url, "configurable_agents_runs_refused_total", namespace="team", limit="caller_rate"
        )
        for g in replicas
    )
    assert counted == len(refused)


def test_a_namespaces_cap_on_runs_in_flight_holds_across_replicas(
    start_gateway: Callable[..., GatewayProcess], postgres_url: str, workflows: Path
) -> None:
    env = {"CONFIGURABLE_AGENTS_NAMESPACE_MAX_IN_FLIGHT": "2"}
    replicas = [start_gateway(postgres_url, workflows=workflows, env=env) for _ in range(2)]
    ids = [create(replicas[i % 2]).json()["id"] for i in range(6)]
    most, busy_refused = 0, False
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=replicas[0].url, timeout=10) as client:
        while time.monotonic() < deadline:
            runs = {
                r["id"]: r["status"]
                for r in client.get(
                    "/v1/runs", params={"workflow": "team/slow", "limit": 100}
                ).json()["items"]
                if r["id"] in ids
            }
            running = sum(status == "running" for status in runs.values())
            most = max(most, running)
            if running == 2 and not busy_refused:
                refused = create(replicas[1], queue=False)
                if refused.status_code == 429:  # (unless one finished in between)
                    assert refused.json()["error"]["code"] == "namespace_busy"
                    busy_refused = True
            if all(status == "succeeded" for status in runs.values()) and len(runs) == 6:
                break
            time.sleep(0.05)
    assert all(status == "succeeded" for status in runs.values()), runs
    assert most == 2, f"at most {most} runs of the namespace ran at once"
    assert busy_refused
    time.sleep(2.1)  # the gauges are refreshed at most every 2 s
    httpx.get(f"{replicas[0].url}/metrics", timeout=10)
    text = httpx.get(f"{replicas[0].url}/metrics", timeout=10).text
    assert 'configurable_agents_namespace_runs_in_flight{namespace="team"} 0.0' in text


def test_the_langgraph_api_draws_on_the_same_rate_as_the_runs_api(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, workflows: Path
) -> None:
    """No side door: runs started through /langgraph count against the caller's rate too, and
    a refusal there is the same 429 with its Retry-After."""
    env = {
        "CONFIGURABLE_AGENTS_CALLER_RUN_RATE": "0.1",
        "CONFIGURABLE_AGENTS_CALLER_RUN_BURST": "2",
    }
    gateway = start_gateway(sqlite_url, workflows=workflows, env=env)
    assert create(gateway).status_code == 202
    through = f"{gateway.url}/langgraph/runs"
    body = {"assistant_id": "team/slow", "input": {"topic": "x"}}
    assert httpx.post(through, json=body, timeout=30).status_code == 200
    refused = httpx.post(through, json=body, timeout=30)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    assert create(gateway).status_code == 429
