"""The Grafana dashboard and the alert rules only name metrics the code really exports.

Exported names come from the code's own metric families (the engine's, the gateway's, the
executors', the agent's and the operator's registries); the queries are parsed by Prometheus's
``promtool`` when it is installed (and run against a live Prometheus in test_prometheus.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from agent_runtime.telemetry.metrics import (
    AgentMetrics,
    AuthMetrics,
    BudgetMetrics,
    ExecutorMetrics,
    GatewayMetrics,
    OperatorMetrics,
    RunMetrics,
)
from tests.conftest import REPO

FILES = REPO / "helm" / "configurable-agents" / "files"
DASHBOARD = FILES / "grafana-dashboard.json"
RULES = FILES / "prometheus-rules.yaml"

#: PromQL words that are not metric names.
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}


def exported_names() -> set[str]:
    """Every sample name the runtime's metric families expose, each in a fresh registry."""
    families = (
        RunMetrics,
        GatewayMetrics,
        ExecutorMetrics,
        AuthMetrics,
        BudgetMetrics,
        AgentMetrics,
        OperatorMetrics,
    )
    registries = []
    for family in families:
        registry = CollectorRegistry()
        family.for_registry(registry)
        registries.append(registry)
    names: set[str] = set()
    for registry in registries:
        for metric in registry.collect():
            for suffix in SUFFIXES.get(metric.type, ("",)):
                names.add(metric.name + suffix)
    return {n for n in names if n.startswith("configurable_agents_")} | {"up"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard.get("templating", {}).get("list", []):
        definition = variable.get("definition", "")
        match = re.fullmatch(r"label_values\((\w+),\s*\w+\)", definition)
        if match:
            queries.append(match.group(1))
    return queries


def rule_queries() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [r["expr"] for group in rules["groups"] for r in group["rules"]]


def metric_names(promql: str) -> set[str]:
    """The metric names a query selects: identifiers outside label matchers, strings, ranges,
    grouping clauses and function names."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def test_the_query_parser_finds_metric_names() -> None:
    query = (
        'histogram_quantile(0.95, sum by (le, node) (rate(a_seconds_bucket{x="y"}[5m]))) '
        "/ on (node) b_total > 2"
    )
    assert metric_names(query) == {"a_seconds_bucket", "b_total"}


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_query_names_exported_metrics(source: str) -> None:
    queries = dashboard_queries() if source == "dashboard" else rule_queries()
    assert len(queries) >= 8
    exported = exported_names()
    unknown = {name: q for q in queries for name in metric_names(q) if name not in exported}
    assert not unknown, f"not exported by the code: {unknown}"
    assert all(metric_names(q) for q in queries), "every query selects a metric"


def test_the_dashboard_covers_every_runtime_metric_family() -> None:
    """No family is exported without a panel to show it (the _created series aside)."""
    used = {name for q in dashboard_queries() for name in metric_names(q)}
    bases = {re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in used}
    families = {
        re.sub(r"_(total|bucket|sum|count|created)$", "", n) for n in exported_names() if n != "up"
    }
    # Internals that are for debugging, not for a dashboard.
    families -= {
        "configurable_agents_agent_tasks_deduplicated",
        "configurable_agents_agent_draining",
        "configurable_agents_agent_llm_tokens",
        "configurable_agents_agent_tasks",
        "configurable_agents_llm_tokens",
        "configurable_agents_runs_resumed",
        "configurable_agents_tool_call_duration_seconds",
        "configurable_agents_operator_managed_resources",
    }
    assert families <= bases, f"no panel for {sorted(families - bases)}"


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("no promtool (Debian's prometheus package; hack/system-packages.sh)")
    recorded = [
        {
            "record": f"check:query{i}",
            "expr": q.replace("$workflow", ".*").replace("$__rate_interval", "5m"),
        }
        for i, q in enumerate(dashboard_queries())
    ]
    (tmp_path / "dashboard.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]})
    )
    for path in (tmp_path / "dashboard.yaml", RULES):
        done = subprocess.run(
            [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
