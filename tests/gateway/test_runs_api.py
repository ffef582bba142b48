"""The Runs API over real HTTP: statuses, pagination, SSE, resume, cancel, and clear 4xx errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.conftest import GatewayProcess, slow_workflow
from tests.sse import numbered

LINEAR = "/v1/workflows/default/linear-chain/runs"
HUMAN = "/v1/workflows/default/human-approval/runs"


def settle(
    client: httpx.Client, run_id: str, *, until: set[str], timeout: float = 20
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] in until:
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert "Traceback" not in response.text
    return dict(body["error"])


def test_workflows_are_listed_with_their_ready_condition(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        items = client.get("/v1/workflows").json()["items"]
    names = {i["name"] for i in items}
    assert {
        "linear-chain",
        "router-loop",
        "parallel-fan-out",
        "human-approval",
        "tool-agent",
    } <= names
    linear = next(i for i in items if i["name"] == "linear-chain")
    assert linear["namespace"] == "default"
    assert linear["conditions"][0] == {
        "type": "Ready",
        "status": "True",
        "reason": "Valid",
        "message": "valid",
    }
    assert linear["input"] == {"topic": {"type": "string"}}


def test_run_with_wait_answers_the_finished_run(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        response = client.post(LINEAR, json={"input": {"topic": "leases"}, "wait": True})
    assert response.status_code == 200
    run = response.json()
    assert run["status"] == "succeeded"
    assert run["output"]["draft"].startswith("Brief:")
    assert [s["node"] for s in run["steps"]] == ["research", "write"]
    assert all(s["inputTokens"] > 0 and s["startedAt"] and s["finishedAt"] for s in run["steps"])


def test_run_without_wait_is_accepted_then_finishes(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        response = client.post(LINEAR, json={"input": {"topic": "leases"}})
        assert response.status_code == 202
        accepted = response.json()
        assert set(accepted) == {"id", "status"} and accepted["status"] == "queued"
        run = settle(client, accepted["id"], until={"succeeded"})
    assert run["output"]["sources"] == ["https://example.org/durable-execution"]


def test_idempotency_key_gives_the_same_run(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        first = client.post(LINEAR, json={"input": {"topic": "a"}, "idempotencyKey": "k-1"}).json()
        again = client.post(LINEAR, json={"input": {"topic": "a"}, "idempotencyKey": "k-1"}).json()
        other = client.post(LINEAR, json={"input": {"topic": "a"}, "idempotencyKey": "k-2"}).json()
    assert first["id"] == again["id"] != other["id"]


def test_listing_is_newest_first_filtered_and_paginated(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        ids = [
            client.post(LINEAR, json={"input": {"topic": str(i)}, "wait": True}).json()["id"]
            for i in range(5)
        ]
        human = client.post(HUMAN, json={"input": {"topic": "x"}, "wait": True}).json()
        assert human["status"] == "interrupted"
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"workflow": "linear-chain", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/runs", params=params).json()
            seen += [r["id"] for r in page["items"]]
            cursor = page["nextCursor"]
            if not cursor:
                break
        assert seen == list(reversed(ids))
        interrupted = client.get("/v1/runs", params={"status": "interrupted"}).json()["items"]
        assert [r["id"] for r in interrupted] == [human["id"]]
        bad = client.get("/v1/runs", params={"status": "sleeping"})
        assert bad.status_code == 422 and "status" in error_of(bad)["message"]
        bad_cursor = client.get("/v1/runs", params={"cursor": "nonsense"})
        assert bad_cursor.status_code == 400, bad_cursor.text  # the caller's mistake
        assert error_of(bad_cursor)["details"] == [
            {"field": "cursor", "message": error_of(bad_cursor)["message"]}
        ]


def test_events_stream_and_rejoin(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        run = client.post(LINEAR, json={"input": {"topic": "x"}, "wait": True}).json()
        text = client.get(f"/v1/runs/{run['id']}/events").text
        events = numbered(text)
        assert [e for _, e in events] == [
            "run.started",
            "node.started",
            "node.finished",
            "node.started",
            "node.finished",
            "run.finished",
        ]
        rejoined = numbered(
            client.get(f"/v1/runs/{run['id']}/events", headers={"Last-Event-ID": "4"}).text
        )
        assert [i for i, _ in rejoined] == [5, 6]


def test_human_node_resume_and_cancel(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        run = client.post(HUMAN, json={"input": {"topic": "x"}, "wait": True}).json()
        assert run["status"] == "interrupted"
        assert run["interrupt"]["node"] == "review"
        bad = client.post(f"/v1/runs/{run['id']}/resume", json={"input": {"approved": "yes"}})
        assert bad.status_code == 422
        problems = error_of(bad)["details"]
        assert {"field": "input.approved", "message": "expected boolean, got string"} in problems
        assert client.get(f"/v1/runs/{run['id']}").json()["status"] == "interrupted"
        ok = client.post(
            f"/v1/runs/{run['id']}/resume", json={"input": {"approved": True, "feedback": "ok"}}
        )
        assert ok.status_code == 202
        done = settle(client, run["id"], until={"succeeded"})
        assert done["output"]["published"].startswith("PUBLISHED:")
        again = client.post(
            f"/v1/runs/{run['id']}/resume", json={"input": {"approved": True, "feedback": "ok"}}
        )
        assert again.status_code == 409 and error_of(again)["code"] == "not_interrupted"

        other = client.post(HUMAN, json={"input": {"topic": "y"}, "wait": True}).json()
        cancelled = client.post(f"/v1/runs/{other['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        twice = client.post(f"/v1/runs/{other['id']}/cancel")
        assert twice.status_code == 409 and error_of(twice)["code"] == "conflict"


def test_a_write_from_another_sites_page_is_refused(gateway: GatewayProcess) -> None:
    """A plain HTML form elsewhere could POST a cancel (no body needed): browsers say where a
    request comes from, and a write from another site changes nothing."""
    with gateway.client() as client:
        run = client.post(HUMAN, json={"input": {"topic": "z"}, "wait": True}).json()
        cancel = f"/v1/runs/{run['id']}/cancel"
        for origin in ("https://evil.example", "null"):
            refused = client.post(cancel, headers={"Origin": origin})
            assert refused.status_code == 403 and error_of(refused)["code"] == "cross_origin"
        started = client.post(HUMAN, json={"input": {"topic": "z"}}, headers={"Origin": "null"})
        assert started.status_code == 403
        assert client.get(f"/v1/runs/{run['id']}").json()["status"] == "interrupted"
        own = client.base_url.netloc.decode()
        same = client.post(cancel, headers={"Origin": f"http://{own}"})
        assert same.status_code == 200 and same.json()["status"] == "cancelled"
        assert client.get("/v1/runs", headers={"Origin": "https://evil.example"}).status_code == 200


def test_caller_mistakes_are_clear_4xx(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        cases = [
            (client.post("/v1/workflows/default/nope/runs", json={}), 404, "workflow_not_found"),
            (client.post(LINEAR, json={"input": {"topik": "x"}}), 422, "invalid_input"),
            (client.post(LINEAR, json={"inputs": {}}), 422, "invalid_request"),
            (
                client.post(
                    LINEAR, content=b"{not json", headers={"content-type": "application/json"}
                ),
                422,
                "invalid_request",
            ),
            (client.post(LINEAR, json={"input": [1, 2]}), 422, "invalid_request"),
            (client.get("/v1/runs/run-missing"), 404, "run_not_found"),
            (client.get("/v1/runs/run-missing/events"), 404, "run_not_found"),
            (client.post("/v1/runs/run-missing/resume", json={"input": {}}), 404, "run_not_found"),
            (client.post("/v1/runs/run-missing/cancel"), 404, "run_not_found"),
            (client.get("/v1/nothing-here"), 404, "not_found"),
        ]
        for response, status, code in cases:
            assert response.status_code == status, (response.request.url, response.text)
            assert error_of(response)["code"] == code
        typo = error_of(client.post(LINEAR, json={"input": {"topik": "x"}}))
        assert {
            "field": "input.topik",
            "message": "not an input of this workflow (inputs: topic)",
        } in typo["details"]
        extra = error_of(client.post(LINEAR, json={"inputs": {}}))
        assert extra["details"][0]["field"] == "inputs"


def test_openapi_health_and_metrics(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        spec = client.get("/openapi.json").json()
        assert "/v1/workflows/{namespace}/{name}/runs" in spec["paths"]
        assert "/v1/runs/{run_id}/events" in spec["paths"]
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_an_idempotency_key_reused_with_other_input_is_a_conflict(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        first = client.post(LINEAR, json={"input": {"topic": "a"}, "idempotencyKey": "k-9"})
        reused = client.post(LINEAR, json={"input": {"topic": "b"}, "idempotencyKey": "k-9"})
        assert reused.status_code == 409, reused.text
        assert error_of(reused)["code"] == "idempotency_conflict"
        assert "idempotencyKey" in error_of(reused)["message"]
        listed = client.get("/v1/runs", params={"limit": 100}).json()["items"]
        assert [r["id"] for r in listed if r["idempotencyKey"] == "k-9"] == [first.json()["id"]]


def test_wait_is_bounded_and_then_answered_as_without_it(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, tmp_path: Path
) -> None:
    folder = slow_workflow(tmp_path / "workflows", delay="3s")
    gateway = start_gateway(
        sqlite_url, workflows=folder, env={"CONFIGURABLE_AGENTS_WAIT_TIMEOUT": "0.5"}
    )
    with gateway.client() as client:
        started = time.monotonic()
        answer = client.post(
            "/v1/workflows/default/slow/runs", json={"input": {"topic": "x"}, "wait": True}
        )
        held = time.monotonic() - started
        assert answer.status_code == 202, answer.text
        assert set(answer.json()) == {"id", "status"}
        assert answer.json()["status"] in ("queued", "running")
        assert held < 2.5, held  # not the 3 s the run takes


def test_serve_takes_its_settings_from_the_environment_unless_a_flag_says_otherwise(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, tmp_path: Path
) -> None:
    """CONFIGURABLE_AGENTS_LEASE_TTL=3 holds when serve is given no --lease-ttl (a flag's
    default used to override it: a replica's runs then waited 30 s to be taken over)."""
    from datetime import datetime

    gateway = start_gateway(
        sqlite_url,
        workflows=slow_workflow(tmp_path / "wf", delay="3s"),
        env={"CONFIGURABLE_AGENTS_LEASE_TTL": "3"},
    )
    with gateway.client() as client:
        run_id = client.post("/v1/workflows/default/slow/runs", json={"input": {"topic": "x"}})
        run = settle(client, run_id.json()["id"], until={"running"})
        expires = datetime.fromisoformat(run["leaseExpiresAt"])
        updated = datetime.fromisoformat(run["updatedAt"])
        assert 0 < (expires - updated).total_seconds() <= 3.5, run
