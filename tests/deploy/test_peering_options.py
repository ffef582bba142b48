"""The operator's kopf peering settings, which the chart's operator Deployment sets."""

from __future__ import annotations

from agents_operator.main import peering_options
from agents_operator.settings import OperatorSettings


def test_without_a_peering_name_the_operator_runs_standalone() -> None:
    assert peering_options(OperatorSettings()) == {"standalone": True}


def test_peering_from_the_environment_with_a_fixed_priority(monkeypatch) -> None:
    monkeypatch.setenv("CONFIGURABLE_AGENTS_OPERATOR_PEERING", "agents")
    monkeypatch.setenv("CONFIGURABLE_AGENTS_OPERATOR_PEERING_PRIORITY", "7")
    assert peering_options(OperatorSettings()) == {
        "standalone": False,
        "peering_name": "agents",
        "priority": 7,
    }


def test_replicas_without_a_priority_never_tie() -> None:
    # kopf pauses every operator when two share a priority: each replica draws its own.
    priorities = {peering_options(OperatorSettings(peering="p"))["priority"] for _ in range(50)}
    assert len(priorities) == 50
    assert all(p > 0 for p in priorities)
