"""Namespace budgets in the platform policy file: the model, prices, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.policy import (
    BudgetPolicy,
    NamespaceBudget,
    PolicyError,
    load_budget_policy,
    load_policy,
)
from agent_runtime.policy.budgets import budgets_from

FILE = "CONFIGURABLE_AGENTS_POLICY_FILE"

POLICY = """\
allowedFunctions: [acme.tools.*]
budgets:
  onExceeded: fail
  prices:
    openai/gpt-4o: {input: 2.5, output: 10}
    gpt-4o-mini: {input: 0.15, output: 0.6}
    openai/*: {input: 1, output: 4}
    "*": {input: 0.5, output: 0.5}
  namespaces:
    team-a: {tokensPerDay: 1000, costPerMonth: 25.5}
    free: {}
    "*": {tokensPerMonth: 50000}
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_budgets_load_from_the_tool_policy_file_which_still_loads(tmp_path: Path) -> None:
    env = {FILE: str(_file(tmp_path, POLICY))}
    budgets = load_budget_policy(env)
    assert budgets is not None and budgets.on_exceeded == "fail"
    assert budgets.budget_for("team-a") == NamespaceBudget(tokens_per_day=1000, cost_per_month=25.5)
    # a namespace named with no limits is exempt from the default; others get the default
    assert budgets.budget_for("free") == NamespaceBudget()
    assert budgets.budget_for("team-b") == NamespaceBudget(tokens_per_month=50000)
    # the tool policy reads the same file and leaves the budgets to the gateway
    assert load_policy(env).allowed_functions == ["acme.tools.*"]


def test_no_file_or_no_budgets_is_none(tmp_path: Path) -> None:
    assert load_budget_policy({}) is None
    assert load_budget_policy({FILE: str(_file(tmp_path, "allowLoopback: true\n"))}) is None


def test_without_a_default_unnamed_namespaces_have_no_budget() -> None:
    policy = BudgetPolicy(namespaces={"team-a": NamespaceBudget(tokens_per_day=1)})
    assert policy.budget_for("team-b") is None
    assert policy.on_exceeded == "pause"


def test_the_most_specific_price_wins() -> None:
    policy = budgets_from(yaml.safe_load(POLICY)["budgets"])
    # provider/model, then model, then provider/*, then *
    assert policy.cost("openai", "gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)
    assert policy.cost("azure", "gpt-4o-mini", 2_000_000, 0) == pytest.approx(0.3)
    assert policy.cost("openai", "gpt-4.1", 1_000_000, 500_000) == pytest.approx(3.0)
    assert policy.cost("anthropic", "claude", 1000, 1000) == pytest.approx(0.001)
    assert BudgetPolicy().cost("openai", "gpt-4o", 10**6, 10**6) == 0.0  # no table: no cost


@pytest.mark.parametrize(
    ("budgets", "message"),
    [
        (
            "namespaces: {team-a: {tokensPerDay: -1}}",
            "budgets.namespaces.team-a.tokensPerDay: must be >= 0",
        ),
        (
            "namespaces: {team-a: {tokensPerDay: lots}}",
            "budgets.namespaces.team-a.tokensPerDay: expected a whole number",
        ),
        (
            "namespaces: {team-a: {tokenPerDay: 5}}",
            "budgets.namespaces.team-a.tokenPerDay: unknown setting",
        ),
        (
            "namespaces: {Team_A: {}}",
            "budgets.namespaces: 'Team_A': expected a namespace name or *",
        ),
        ("onExceeded: wait", "budgets.onExceeded: expected 'fail' or 'pause'"),
        (
            "prices: {openai/gpt-4o: {input: 1}}",
            "budgets.prices.openai/gpt-4o.output: Field required",
        ),
        (
            "prices: {openai/gpt-4o: {input: -1, output: 1}}",
            "prices.openai/gpt-4o.input: must be >= 0",
        ),
        ("prices: {'*/gpt-4o': {input: 1, output: 1}}", "budgets.prices: '*/gpt-4o': * stands for"),
        (
            "prices: {'openai/': {input: 1, output: 1}}",
            "budgets.prices: 'openai/': expected provider",
        ),
        (
            "namespaces: {team-a: {costPerDay: 5}}",
            "budgets.namespaces.team-a.costPerDay: a cost limit needs prices",
        ),
        ("[1, 2]", "budgets: expected a mapping"),
        ("bogus: 1", "budgets.bogus: unknown setting"),
    ],
)
def test_mistakes_are_one_line_naming_the_file_and_key(
    tmp_path: Path, budgets: str, message: str
) -> None:
    path = _file(tmp_path, yaml.safe_dump({"budgets": yaml.safe_load(budgets)}))
    with pytest.raises(PolicyError) as caught:
        load_budget_policy({FILE: str(path)})
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: budgets")
    assert message in text


def test_a_bad_budget_stops_the_gateway_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _file(tmp_path, "budgets: {namespaces: {team-a: {tokensPerMonth: -5}}}\n")
    monkeypatch.setenv(FILE, str(path))
    with pytest.raises(ValueError, match=r"platform budget policy: .*tokensPerMonth: must be >= 0"):
        GatewaySettings()
    monkeypatch.setenv(FILE, str(_file(tmp_path, POLICY)))
    policy = GatewaySettings().budget_policy()
    assert policy is not None and policy.budget_for("team-a") is not None
