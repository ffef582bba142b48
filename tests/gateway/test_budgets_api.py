"""Namespace budgets through a real gateway: runs' tokens are charged to their namespace,
``GET /v1/budgets`` and ``/metrics`` show spend against the limits, and a namespace at its
limit has its next run stopped naming the limit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.gateway.conftest import GatewayProcess
from tests.gateway.test_runs_api import settle
from tests.processes import metric

pytestmark = pytest.mark.slow

CHAIN = REPO / "examples" / "01-linear-chain"
RUNS = "/v1/workflows/default/linear-chain/runs"

POLICY = """\
budgets:
  onExceeded: {on_exceeded}
  prices:
    scripted/*: {{input: 1000, output: 2000}}
  namespaces:
    default: {{tokensPerDay: {tokens_per_day}, costPerMonth: 1000}}
    "*": {{tokensPerMonth: 7}}
"""


def policy_env(tmp_path: Path, *, tokens_per_day: int, on_exceeded: str = "fail") -> dict[str, str]:
    file = tmp_path / f"policy-{tokens_per_day}.yaml"
    file.write_text(POLICY.format(tokens_per_day=tokens_per_day, on_exceeded=on_exceeded))
    return {"CONFIGURABLE_AGENTS_POLICY_FILE": str(file)}


def test_runs_are_charged_shown_and_stopped_at_the_limit(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, tmp_path: Path
) -> None:
    env = policy_env(tmp_path, tokens_per_day=1_000_000)
    gateway = start_gateway(sqlite_url, workflows=CHAIN, env=env)
    with gateway.client() as client:
        run = client.post(RUNS, json={"input": {"topic": "budgets"}, "wait": True}).json()
        assert run["status"] == "succeeded", run
        steps = client.get(f"/v1/runs/{run['id']}").json()["steps"]
        tokens = sum(s["inputTokens"] + s["outputTokens"] for s in steps)
        cost = sum(s["inputTokens"] * 1000 + s["outputTokens"] * 2000 for s in steps) / 1e6
        assert tokens > 0

        answer = client.get("/v1/budgets").json()
        assert (answer["configured"], answer["onExceeded"]) == (True, "fail")
        [item] = [i for i in answer["items"] if i["namespace"] == "default"]
        assert item["budget"]["tokensPerDay"] == 1_000_000
        assert item["budget"]["tokensPerMonth"] is None
        assert item["spend"]["day"]["tokens"] == item["spend"]["month"]["tokens"] == tokens
        assert item["spend"]["month"]["cost"] == pytest.approx(cost)
        assert item["exceeded"] == []
        assert item["month"] == item["day"][:7]

    day = {"namespace": "default", "period": "day"}
    assert metric(gateway.url, "configurable_agents_namespace_spend_tokens", **day) == tokens
    assert metric(gateway.url, "configurable_agents_namespace_budget_tokens", **day) == 1_000_000
    month = {"namespace": "default", "period": "month"}
    assert metric(gateway.url, "configurable_agents_namespace_budget_cost", **month) == 1000
    assert metric(gateway.url, "configurable_agents_namespace_spend_cost", **month) == (
        pytest.approx(cost)
    )
    gateway.kill()

    # Another gateway on the same store, whose policy allows fewer tokens a day than were spent.
    small = start_gateway(sqlite_url, workflows=CHAIN, env=policy_env(tmp_path, tokens_per_day=5))
    with small.client() as client:
        [item] = [
            i for i in client.get("/v1/budgets").json()["items"] if i["namespace"] == "default"
        ]
        [over] = item["exceeded"]
        assert (over["limit"], over["used"], over["allowed"]) == ("tokensPerDay", tokens, 5)
        assert over["message"] == (
            f"namespace default is over its budget: tokensPerDay {tokens} of 5 ({item['day']})"
        )
        run_id = client.post(RUNS, json={"input": {"topic": "more"}}).json()["id"]
        failed = settle(client, run_id, until={"failed", "succeeded", "interrupted"})
        assert failed["status"] == "failed", failed
        assert "tokensPerDay" in failed["error"]["message"], failed["error"]


def test_without_budgets_the_api_says_so(gateway: GatewayProcess) -> None:
    with gateway.client() as client:
        answer = client.get("/v1/budgets").json()
    assert answer["configured"] is False
    assert answer["items"] and all(i["budget"] is None for i in answer["items"])
    assert all(i["exceeded"] == [] for i in answer["items"])


def spent_today(client: httpx.Client) -> int:
    items = client.get("/v1/budgets").json()["items"]
    [tokens] = [i["spend"]["day"]["tokens"] for i in items if i["namespace"] == "default"]
    return int(tokens)


def test_at_the_limit_a_pausing_budget_waits_for_an_approval(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, tmp_path: Path
) -> None:
    """The first model node spends past the limit; the next one waits for a person, and once
    approved the run goes on with nothing charged twice."""
    env = policy_env(tmp_path, tokens_per_day=1, on_exceeded="pause")
    gateway = start_gateway(sqlite_url, workflows=CHAIN, env=env)
    with gateway.client() as client:
        run_id = client.post(RUNS, json={"input": {"topic": "b"}}).json()["id"]
        paused = settle(client, run_id, until={"interrupted", "failed", "succeeded"})
        assert paused["status"] == "interrupted", paused
        asked = paused["interrupt"]
        assert (asked["node"], asked["reason"]) == ("write", "namespaceBudget")
        assert asked["limit"] == "tokensPerDay"
        assert "namespace default is over its budget: tokensPerDay" in asked["message"]
        [research] = client.get(f"/v1/runs/{run_id}").json()["steps"]
        assert spent_today(client) == research["inputTokens"] + research["outputTokens"]

        answer = client.post(f"/v1/runs/{run_id}/approve", json={"approved": True})
        assert answer.status_code == 202, answer.text
        done = settle(client, run_id, until={"succeeded", "failed"}, timeout=30)
        assert done["status"] == "succeeded", done
        assert [a["reason"] for a in done["approvals"]] == ["namespaceBudget"]
        steps = client.get(f"/v1/runs/{run_id}").json()["steps"]
        assert spent_today(client) == sum(s["inputTokens"] + s["outputTokens"] for s in steps)
