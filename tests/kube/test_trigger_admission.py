"""The Trigger CRD on a real apiserver: a Trigger applies, and one whose schedule cannot work is
refused at admission naming the field (the rest is the models' job, reported by validation)."""

from __future__ import annotations

from collections.abc import Callable
from subprocess import CompletedProcess

import pytest
import yaml

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.cluster

Kubectl = Callable[..., CompletedProcess[str]]


def applied(kubectl: Kubectl, namespace: str, **schedule: object) -> CompletedProcess[str]:
    doc = yaml.safe_load((EXAMPLES / "triggers" / "daily-report.yaml").read_text())
    doc["spec"]["schedule"].update(schedule)
    text = yaml.safe_dump(doc)
    return kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=text, check=False)


def test_a_trigger_applies_and_prints_its_schedule(kubectl: Kubectl, namespace: str) -> None:
    done = applied(kubectl, namespace)
    assert done.returncode == 0, done.stderr
    shown = kubectl("get", "catr", "daily-report", "-n", namespace).stdout
    assert "0 7 * * *" in shown and "linear-chain" in shown
    listed = kubectl("get", "configurable-agents", "-n", namespace).stdout
    assert "trigger.configurable-agents.io/daily-report" in listed


@pytest.mark.parametrize(
    ("schedule", "field", "words"),
    [
        ({"schedule": "0 7 * *"}, "spec.schedule.schedule", "five cron fields"),
        ({"concurrencyPolicy": "Sometimes"}, "spec.schedule.concurrencyPolicy", "Unsupported"),
        ({"startingDeadlineSeconds": -5}, "spec.schedule.startingDeadlineSeconds", "0"),
    ],
)
def test_a_schedule_that_cannot_work_is_refused_at_admission(
    kubectl: Kubectl, namespace: str, schedule: dict[str, object], field: str, words: str
) -> None:
    done = applied(kubectl, namespace, **schedule)
    assert done.returncode != 0
    assert field in done.stderr and words in done.stderr, done.stderr
