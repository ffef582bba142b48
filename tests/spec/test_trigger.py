"""Trigger documents: what a schedule accepts, what it refuses (naming the field), and its ticks
across DST changes with CronJob's rules for missed ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest

from agent_runtime.spec import SpecError, parse_resource, parse_workflow
from agent_runtime.spec.schedule import Cron, due_tick
from agent_runtime.spec.trigger import Trigger, input_problems
from tests.spec.crd_schema import cel_failures, schema_of


def trigger_doc(**schedule: Any) -> dict[str, Any]:
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "daily-report", "namespace": "team-a"},
        "spec": {
            "workflow": "report",
            "input": {"topic": "daily"},
            "schedule": {"schedule": "0 7 * * *", **schedule},
        },
    }


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_resource(doc)
    return [str(p) for p in caught.value.problems]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_trigger_parses_with_cronjob_defaults() -> None:
    trigger = parse_resource(trigger_doc(timeZone="Europe/Berlin"))
    assert isinstance(trigger, Trigger)
    schedule = trigger.spec.schedule
    assert schedule is not None
    assert (schedule.concurrency_policy, schedule.starting_deadline_seconds) == ("Allow", None)
    assert (schedule.successful_runs_history_limit, schedule.failed_runs_history_limit) == (3, 1)
    assert trigger.namespace == "team-a" and not trigger.spec.suspend


@pytest.mark.parametrize(
    ("schedule", "field", "words"),
    [
        ({"schedule": "61 * * * *"}, "spec.schedule.schedule", "Bad minute"),
        ({"schedule": "* * * *"}, "spec.schedule.schedule", "Wrong number of fields"),
        ({"schedule": "@fortnightly"}, "spec.schedule.schedule", "@hourly"),
        ({"timeZone": "Mars/Olympus"}, "spec.schedule.timeZone", "unknown time zone"),
        ({"concurrencyPolicy": "Sometimes"}, "spec.schedule.concurrencyPolicy", "Forbid"),
        ({"startingDeadlineSeconds": -1}, "spec.schedule.startingDeadlineSeconds", "0"),
        ({"successfulRunsHistoryLimit": -1}, "spec.schedule.successfulRunsHistoryLimit", "0"),
        ({"every": "day"}, "spec.schedule.every", "unknown field"),
    ],
)
def test_a_schedule_that_cannot_work_is_refused_naming_the_field(
    schedule: dict[str, Any], field: str, words: str
) -> None:
    found = problems(trigger_doc(**schedule))
    assert len(found) == 1 and found[0].startswith(f"{field}: ") and words in found[0], found


def test_a_trigger_needs_a_schedule() -> None:
    doc = trigger_doc()
    del doc["spec"]["schedule"]
    assert problems(doc) == [
        "spec.schedule: required (a trigger fires on exactly one of: schedule, webhook)"
    ]


def test_the_input_is_checked_against_the_workflow_naming_the_field() -> None:
    workflow = parse_workflow(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "report", "namespace": "team-a"},
            "spec": {
                "state": {"topic": {"type": "string"}, "out": {"type": "string"}},
                "input": ["topic"],
                "output": ["out"],
                "nodes": [{"name": "a", "type": "llm", "prompt": "{{ topic }}", "output": "out"}],
                "models": {"default": {"provider": "scripted"}},
                "edges": [{"from": "START", "to": "a"}, {"from": "a", "to": "END"}],
            },
        }
    )
    good = parse_resource(trigger_doc())
    assert isinstance(good, Trigger) and input_problems(good, workflow) == []
    doc = trigger_doc()
    doc["spec"]["input"] = {"topic": "daily", "colour": "red"}
    bad = parse_resource(doc)
    assert isinstance(bad, Trigger)
    assert [p.path for p in input_problems(bad, workflow)] == ["spec.input.colour"]


def test_macros_are_the_expressions_cronjob_gives_them() -> None:
    assert Cron("@hourly").next_after(utc(2026, 5, 1, 7, 10)) == utc(2026, 5, 1, 8, 0)
    assert Cron("@daily").next_after(utc(2026, 5, 1, 7, 10)) == utc(2026, 5, 2, 0, 0)


def test_the_hour_a_spring_change_skips_fires_when_the_clock_resumes() -> None:
    berlin = Cron("30 2 * * *", "Europe/Berlin")  # 2026-03-29 02:00 CET -> 03:00 CEST
    first = berlin.next_after(utc(2026, 3, 28, 12, 0))
    assert first == utc(2026, 3, 29, 1, 0)  # 03:00 CEST: once, as the hour resumes
    assert berlin.next_after(first) == utc(2026, 3, 30, 0, 30)  # 02:30 CEST


def test_the_hour_an_autumn_change_repeats_fires_once() -> None:
    berlin = Cron("30 2 * * *", "Europe/Berlin")  # 2026-10-25 03:00 CEST -> 02:00 CET
    first = berlin.next_after(utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, the first pass
    assert berlin.next_after(first) == utc(2026, 10, 26, 1, 30)  # 02:30 CET, the next day
    # during the repeated 02:30 CET nothing more is due
    assert due_tick(berlin, since=first, now=utc(2026, 10, 25, 1, 31)) is None


def test_a_local_time_stays_local_across_a_change() -> None:
    seven = Cron("0 7 * * *", "Europe/Berlin")
    assert seven.next_after(utc(2026, 3, 28, 7, 0)) == utc(2026, 3, 29, 5, 0)  # CEST
    assert seven.next_after(utc(2026, 10, 24, 7, 0)) == utc(2026, 10, 25, 6, 0)  # CET


def test_missed_ticks_fire_once_for_the_newest_within_the_deadline() -> None:
    hourly = Cron("0 * * * *")
    since, now = utc(2026, 5, 1, 3, 0), utc(2026, 5, 1, 7, 20)  # 04:00..07:00 missed
    assert due_tick(hourly, since=since, now=now) == utc(2026, 5, 1, 7, 0)
    assert due_tick(hourly, since=since, now=now, deadline=1800) == utc(2026, 5, 1, 7, 0)
    assert due_tick(hourly, since=since, now=now, deadline=600) is None  # 20 min late
    assert due_tick(hourly, since=utc(2026, 5, 1, 7, 0), now=now) is None  # fired already
    exactly = utc(2026, 5, 1, 8, 0)
    assert due_tick(hourly, since=since, now=exactly, deadline=0) == exactly
    assert due_tick(hourly, since=since, now=exactly - timedelta(microseconds=1)) == utc(
        2026, 5, 1, 7, 0
    )


# --- the CRD's admission rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "refused"),
    [
        ("0 7 * * *", False),
        ("  */5 1-6 * * mon-fri ", False),
        ("@daily", False),
        ("0 7 * *", True),
        ("0 7 * * * *", True),
        ("@fortnightly", True),
    ],
)
def test_the_crd_refuses_a_schedule_without_five_fields(schedule: str, refused: bool) -> None:
    doc = trigger_doc()
    doc["spec"]["schedule"]["schedule"] = schedule
    failures = cel_failures(schema_of("Trigger"), doc)
    assert failures == ([("spec.schedule.schedule", ANY)] if refused else [])


def test_the_crd_refuses_a_trigger_without_a_schedule() -> None:
    doc = trigger_doc()
    del doc["spec"]["schedule"]
    assert cel_failures(schema_of("Trigger"), doc) == [
        ("spec.schedule", "a trigger fires on exactly one of: schedule, webhook")
    ]
