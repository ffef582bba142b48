"""``validate`` checks Trigger documents, and a Trigger's input against its Workflow when one of
the files holds it, naming the field."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import CLI, EXAMPLES

TRIGGER = EXAMPLES / "triggers" / "daily-report.yaml"
WORKFLOW = EXAMPLES / "01-linear-chain" / "workflow.yaml"


def validate(*files: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [*CLI, "validate", *map(str, files)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_the_example_trigger_is_valid_with_its_workflow(cli_env: dict[str, str]) -> None:
    done = validate(TRIGGER, WORKFLOW, env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "Trigger daily-report is valid" in done.stderr


def test_a_trigger_whose_input_the_workflow_does_not_take(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    doc = yaml.safe_load(TRIGGER.read_text(encoding="utf-8"))
    doc["spec"]["input"]["colour"] = "red"
    bad = tmp_path / "trigger.yaml"
    bad.write_text(yaml.safe_dump(doc), encoding="utf-8")
    done = validate(bad, WORKFLOW, env=cli_env)
    assert done.returncode == 2
    assert f"error: {bad}: spec.input.colour: not an input of this workflow" in done.stderr


def test_a_schedule_that_cannot_work(tmp_path: Path, cli_env: dict[str, str]) -> None:
    doc = yaml.safe_load(TRIGGER.read_text(encoding="utf-8"))
    doc["spec"]["schedule"].update(schedule="0 25 * * *", timeZone="Europe/Berlinn")
    bad = tmp_path / "trigger.yaml"
    bad.write_text(yaml.safe_dump(doc), encoding="utf-8")
    done = validate(bad, env=cli_env)
    assert done.returncode == 2
    assert "spec.schedule.schedule: invalid cron expression '0 25 * * *': Bad hour" in done.stderr
    assert "spec.schedule.timeZone: unknown time zone 'Europe/Berlinn'" in done.stderr
    assert "Traceback" not in done.stderr
