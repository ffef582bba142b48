"""A real Prometheus scrapes a gateway, an agent and the operator; PromQL finds the series.

The runs are real (a gateway and an agent process, SQLite), so every value asserted here was
counted by the code and carried over HTTP to Prometheus: runs by workflow and status, node
latency, retries, tokens and cost, LLM and tool calls, 429s, queue depth, reconciles.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.agent.harness import AgentProcess, llm_task
from tests.conftest import EXAMPLES
from tests.gateway.conftest import GatewayProcess
from tests.observability.prometheus import PrometheusServer, prometheus_server

pytestmark = pytest.mark.slow

#: A tool node that fails ``failures`` times before it succeeds (tests.counting_tools.flaky).
FLAKY = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: flaky}
spec:
  state:
    label: {type: string}
    failures: {type: integer}
    result: {type: string}
  input: [label, failures]
  output: [result]
  tools:
    - {name: flaky, function: "tests.counting_tools:flaky"}
  nodes:
    - name: wobble
      type: tool
      tool: flaky
      args: {label: "{{ label }}", failures: "{{ failures }}"}
      output: result
      retry: {maxAttempts: 2, initialDelay: 10ms}
  edges:
    - {from: START, to: wobble}
    - {from: wobble, to: END}
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    yield from prometheus_server(tmp_path_factory.mktemp("prometheus"))


@pytest.fixture(scope="module")
def stack(
    prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, AgentProcess]]:
    folder = tmp_path_factory.mktemp("stack")
    workflows = folder / "workflows"
    workflows.mkdir()
    shutil.copy(EXAMPLES / "05-tool-agent" / "workflow.yaml", workflows / "tool-agent.yaml")
    (workflows / "flaky.yaml").write_text(FLAKY)
    prices = folder / "prices.json"
    prices.write_text('{"scripted": {"input": 2.5, "output": 10}}')
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CONFIGURABLE_AGENTS_PRICES", str(prices))
        agent = AgentProcess(folder, capabilities=("llm", "math"), max_concurrent_tasks=1)
        agent.wait_ready()
        try:
            gateway = GatewayProcess(
                f"sqlite:///{folder / 'runs.db'}",
                folder,
                "--agents",
                f"llm={agent.url}",
                "--agents",
                f"math={agent.url}",
                workflows=workflows,
            )
        except BaseException:
            agent.stop()
            raise
    prometheus.scrape("gateway", gateway.url)
    prometheus.scrape("agent", agent.url)
    try:
        yield gateway, agent
    finally:
        gateway.kill(15)
        agent.stop()


def run(gateway: GatewayProcess, workflow: str, given: dict[str, Any]) -> dict[str, Any]:
    with gateway.client() as client:
        answer = client.post(
            f"/v1/workflows/default/{workflow}/runs", json={"input": given, "wait": True}
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def busy_agent(agent: AgentProcess) -> None:
    """Two slow tasks at once at an agent that takes one: the second is refused with 429."""
    statuses: list[int] = []

    def post(run_id: str) -> None:
        answer = httpx.post(f"{agent.url}/v1/tasks", json=llm_task(run_id, delay="1s"), timeout=10)
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=post, args=(f"run-busy-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 429]


def test_prometheus_finds_the_runtime_series(
    stack: tuple[GatewayProcess, AgentProcess], prometheus: PrometheusServer
) -> None:
    gateway, agent = stack
    for i in range(3):
        assert run(gateway, "tool-agent", {"question": f"q{i}: six times seven"})["status"] == (
            "succeeded"
        )
    assert run(gateway, "flaky", {"label": "once", "failures": 1})["status"] == "succeeded"
    assert run(gateway, "flaky", {"label": "always", "failures": 5})["status"] == "failed"
    busy_agent(agent)

    p = prometheus
    # Once the last of it was scraped (every second), everything before it was too.
    p.wait('configurable_agents_runs_finished_total{workflow="default/flaky",status="failed"}')
    p.wait('configurable_agents_agent_tasks_rejected_total{reason="busy"} == 1')
    # Two chat rounds per tool-agent run, and the busy test's task.
    p.wait('configurable_agents_llm_calls_total{job="agent",outcome="succeeded"} == 7')
    assert (
        p.value(
            'configurable_agents_runs_started_total{job="gateway",workflow="default/tool-agent"}'
        )
        == 3
    )
    assert (
        p.value(
            'configurable_agents_runs_finished_total{workflow="default/tool-agent",status="succeeded"}'
        )
        == 3
    )
    assert (
        p.value(
            'configurable_agents_runs_finished_total{workflow="default/flaky",status="succeeded"}'
        )
        == 1
    )
    # Retries: one for the run that recovered, one before the other gave up.
    assert p.value('sum(configurable_agents_node_retries_total{workflow="default/flaky"})') == 2
    # Node latency histograms, by node and outcome.
    assert (
        p.value(
            'sum(configurable_agents_node_duration_seconds_count{node="wobble",outcome="failed"})'
        )
        == 3
    )
    p95 = p.value(
        "histogram_quantile(0.95, sum by (le) "
        '(configurable_agents_node_duration_seconds_bucket{node="solve"}))'
    )
    assert 0 < p95 < 30
    # Tokens by model and direction, and their cost by the price table.
    tokens_in = p.value(
        'configurable_agents_tokens_total{workflow="default/tool-agent",model="scripted",'
        'direction="input"}'
    )
    tokens_out = p.value(
        'configurable_agents_tokens_total{workflow="default/tool-agent",model="scripted",'
        'direction="output"}'
    )
    assert tokens_in > 0 and tokens_out > 0
    cost = p.value('configurable_agents_cost_usd_total{workflow="default/tool-agent"}')
    assert cost == pytest.approx((tokens_in * 2.5 + tokens_out * 10) / 1e6)
    # Queue depth and lease takeovers are exported (nothing waits; no replica died).
    assert p.wait('configurable_agents_queue_depth{job="gateway"}')
    assert p.value('configurable_agents_lease_takeovers_total{job="gateway"}') == 0

    # Agent: LLM calls and tokens by model, tool calls, tasks in flight, 429s.
    assert (
        p.value(
            'configurable_agents_llm_tokens_total{job="agent",model="scripted",direction="input"}'
        )
        > tokens_in - 1
    )  # the busy test's task adds a few
    assert p.value('configurable_agents_tool_calls_total{tool="flaky",outcome="failed"}') == 3
    assert (
        p.value('configurable_agents_tool_calls_total{tool="calculate",outcome="succeeded"}') == 3
    )
    assert p.wait("configurable_agents_llm_call_duration_seconds_count")
    assert p.value('configurable_agents_agent_tasks_in_flight{job="agent"}') == 0
    assert p.value('configurable_agents_agent_max_concurrent_tasks{job="agent"}') == 1


@pytest.mark.cluster
def test_prometheus_scrapes_the_operator(
    prometheus: PrometheusServer, operator: Any, kubectl: Any, namespace: str
) -> None:
    prometheus.scrape("operator", f"http://127.0.0.1:{operator.metrics_port}")
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        str(EXAMPLES / "01-linear-chain" / "agentpool.yaml"),
    )
    prometheus.wait(
        'configurable_agents_operator_reconciles_total{job="operator",kind="AgentPool",'
        'outcome="success"} > 0'
    )
    prometheus.wait(
        'configurable_agents_operator_reconcile_duration_seconds_count{job="operator"} > 0'
    )
    prometheus.wait('configurable_agents_operator_api_requests_total{job="operator"} > 0')


def test_every_dashboard_query_runs_in_prometheus(
    stack: tuple[GatewayProcess, AgentProcess], prometheus: PrometheusServer
) -> None:
    """Each panel's PromQL parses and evaluates against real series (no error answers)."""
    from tests.observability.test_dashboards import dashboard_queries

    for query in dashboard_queries():
        prometheus.query(query.replace("$workflow", ".*").replace("$__rate_interval", "1m"))
