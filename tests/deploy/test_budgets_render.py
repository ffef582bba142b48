"""The chart's namespace budgets (policy.budgets) as rendered (no cluster): the budgets: key of the
tool-policy file the gateway mounts, read back by the gateway's loader as the values say; the tool
policy beside it unchanged; pods roll when budgets change; the schema and the chart refuse values
that could not work, naming them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_runtime.policy import BudgetPolicy, ToolPolicy, load_budget_policy, policy_from
from tests.deploy.tools import by_key, helm_template, render

NAME = "ca-configurable-agents-tool-policy"
GATEWAY = "ca-configurable-agents-gateway"

BUDGETS = {
    "onExceeded": "fail",
    "prices": {"openai/gpt-4o": {"input": 2.5, "output": 10}, "*": {"input": 1, "output": 4}},
    "namespaces": {
        "team-a": {"tokensPerDay": 2_000_000, "costPerMonth": 300},
        "free": {},
        "*": {"tokensPerMonth": 500_000},
    },
}


def policy_file(tmp_path: Path, values: dict[str, Any] | None = None) -> Path:
    config_map = by_key(render(tmp_path, values))[("ConfigMap", NAME)]
    path = tmp_path / "policy.yaml"
    path.write_text(config_map["data"]["policy.yaml"])
    return path


def test_no_namespace_named_no_budgets(tmp_path: Path) -> None:
    path = policy_file(tmp_path)
    assert "budgets" not in path.read_text()
    assert load_budget_policy({}, file=path) is None


def test_values_reach_the_gateways_file(tmp_path: Path) -> None:
    path = policy_file(tmp_path, {"policy": {"budgets": BUDGETS}})
    assert load_budget_policy({}, file=path) == BudgetPolicy.model_validate(BUDGETS)
    # the operator and agents read the same file's tool policy, untouched by the budgets
    assert policy_from(default="local", file=path) == ToolPolicy.cluster()


def test_the_default_mode_is_pause(tmp_path: Path) -> None:
    values = {"policy": {"budgets": {"namespaces": {"team-a": {"tokensPerDay": 10}}}}}
    loaded = load_budget_policy({}, file=policy_file(tmp_path, values))
    assert loaded is not None and loaded.on_exceeded == "pause"


def test_the_gateway_rolls_when_budgets_change(tmp_path: Path) -> None:
    def checksum(values: dict[str, Any]) -> str:
        gateway = by_key(render(tmp_path, values))[("Deployment", GATEWAY)]
        annotations = gateway["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/tool-policy"])

    assert checksum({}) != checksum({"policy": {"budgets": BUDGETS}})


@pytest.mark.parametrize(
    ("budgets", "names"),
    [
        ({"onExceeded": "wait"}, "/policy/budgets/onExceeded"),
        ({"namespaces": {"team-a": {"tokensPerDay": -1}}}, "/policy/budgets/namespaces/team-a"),
        ({"namespaces": {"team-a": {"tokensPerDay": 1.5}}}, "/policy/budgets/namespaces/team-a"),
        ({"namespaces": {"team-a": {"tokenPerDay": 1}}}, "'tokenPerDay' not allowed"),
        ({"namespaces": {"Team_A": {}}}, "/policy/budgets/namespaces"),
        ({"prices": {"*": {"input": 1}}}, "/policy/budgets/prices/*"),
        ({"prices": {"*/gpt-4o": {"input": 1, "output": 1}}}, "/policy/budgets/prices"),
        ({"limits": {}}, "'limits' not allowed"),
    ],
)
def test_schema_rejects_bad_budget_values_naming_them(
    tmp_path: Path, budgets: dict[str, Any], names: str
) -> None:
    proc = helm_template(tmp_path, {"policy": {"budgets": budgets}}, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert names in proc.stderr, proc.stderr


def test_a_cost_limit_without_prices_is_refused_naming_it(tmp_path: Path) -> None:
    values = {"policy": {"budgets": {"namespaces": {"team-a": {"costPerMonth": 5}}}}}
    proc = helm_template(tmp_path, values, check=False)
    assert proc.returncode != 0
    assert "policy.budgets.namespaces.team-a: a cost limit needs policy.budgets.prices" in (
        proc.stderr
    )
