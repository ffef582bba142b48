"""A Trigger's webhook: what it accepts, what it refuses naming the field (the models, and the
CRD's rules as the apiserver evaluates them), and its mapping checked against the Workflow."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_runtime.spec import SpecError, parse_resource, parse_workflow
from agent_runtime.spec.trigger import Trigger, input_problems
from agent_runtime.spec.trigger_health import judge
from tests.conftest import EXAMPLES, REPO
from tests.spec.crd_schema import cel_failures, schema_of

WEBHOOK: dict[str, Any] = {
    "signature": "github",
    "keys": {"secretRef": {"name": "github-webhook", "keys": ["current", "previous"]}},
    "when": "headers['x-github-event'] == 'pull_request'",
    "input": {"title": "body.pull_request.title", "number": "body.pull_request.number"},
}


def trigger_doc(**webhook: Any) -> dict[str, Any]:
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "pull-requests", "namespace": "team-a"},
        "spec": {
            "workflow": "review",
            "input": {"repo": "octo/hello"},
            "webhook": {**copy.deepcopy(WEBHOOK), **webhook},
        },
    }


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_resource(doc)
    return [str(p) for p in caught.value.problems]


WORKFLOW = parse_workflow(
    {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "review", "namespace": "team-a"},
        "spec": {
            "state": {
                "title": {"type": "string"},
                "number": {"type": "integer"},
                "repo": {"type": "string"},
                "out": {"type": "string"},
            },
            "input": ["title", "number", "repo"],
            "output": ["out"],
            "nodes": [{"name": "a", "type": "llm", "prompt": "{{ title }}", "output": "out"}],
            "models": {"default": {"provider": "scripted"}},
            "edges": [{"from": "START", "to": "a"}, {"from": "a", "to": "END"}],
        },
    }
)


def test_a_webhook_trigger_parses_with_its_defaults() -> None:
    trigger = parse_resource(trigger_doc())
    assert isinstance(trigger, Trigger) and trigger.spec.webhook is not None
    webhook = trigger.spec.webhook
    assert (webhook.signature, webhook.format, webhook.delivery) == (
        "github",
        "json",
        "X-GitHub-Delivery",
    )
    standard = parse_resource(trigger_doc(signature="standard", tolerance="2m"))
    assert isinstance(standard, Trigger) and standard.spec.webhook is not None
    assert (standard.spec.webhook.delivery, standard.spec.webhook.window) == ("webhook-id", 120.0)
    assert input_problems(trigger, WORKFLOW) == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"signature": "gitlab"}, "spec.webhook.signature", "'standard' or 'github'"),
        ({"tolerance": "5m"}, "spec.webhook.tolerance", "GitHub signs no timestamp"),
        (
            {"signature": "standard", "tolerance": "2h"},
            "spec.webhook.tolerance",
            "between 1s and 1h",
        ),
        ({"keys": {}}, "spec.webhook.keys.secretRef", "exactly one of secretRef"),
        (
            {"keys": {"env": ["WEBHOOK_A"], "secretRef": {"name": "s"}}},
            "spec.webhook.keys.secretRef",
            "exactly one of",
        ),
        ({"keys": {"env": ["OPENAI_API_KEY"]}}, "spec.webhook.keys.env[0]", "WEBHOOK_*"),
        (
            {"keys": {"secretRef": {"name": "s", "keys": ["a", "b", "c"]}}},
            "spec.webhook.keys.secretRef.keys",
            "at most 2",
        ),
        (
            {"keys": {"secretRef": {"name": "s", "keys": ["a", "a"]}}},
            "spec.webhook.keys.secretRef.keys",
            "once",
        ),
        (
            {"keys": {"secretRef": {"name": "Not_A_Name"}}},
            "spec.webhook.keys.secretRef.name",
            "pattern",
        ),
        ({"deliveryHeader": "bad header"}, "spec.webhook.deliveryHeader", "header name"),
        (
            {"format": "cloudevents", "deliveryHeader": "X-Id"},
            "spec.webhook.deliveryHeader",
            "source and id",
        ),
        ({"input": {"title": "body.title +"}}, "spec.webhook.input.title", "does not parse"),
        ({"input": {"title": "state.title"}}, "spec.webhook.input.title", "reads state"),
        ({"input": {"title": "event.subject"}}, "spec.webhook.input.title", "reads event"),
        ({"input": {"2fast": "body.x"}}, "spec.webhook.input.2fast", "not a field name"),
        ({"input": {"repo": "body.repository"}}, "spec.webhook.input.repo", "spec.input too"),
        ({"when": "payload.action == 'opened'"}, "spec.webhook.when", "reads payload"),
        ({"secret": "hunter2"}, "spec.webhook.secret", "unknown field"),
    ],
)
def test_a_webhook_that_cannot_work_is_refused_naming_the_field(
    change: dict[str, Any], field: str, words: str
) -> None:
    found = problems(trigger_doc(**change))
    assert len(found) == 1 and found[0].startswith(f"{field}: ") and words in found[0], found


def test_cloudevents_mappings_may_read_the_event() -> None:
    doc = trigger_doc(format="cloudevents", signature="standard", input={"title": "event.subject"})
    doc["spec"]["webhook"]["input"]["number"] = "body.number"
    assert isinstance(parse_resource(doc), Trigger)


def test_a_trigger_fires_on_one_source_only() -> None:
    doc = trigger_doc()
    doc["spec"]["schedule"] = {"schedule": "0 7 * * *"}
    assert problems(doc) == [
        "spec.webhook: a trigger fires on exactly one of: schedule, webhook (both given)"
    ]
    assert ("spec.schedule", "a trigger fires on exactly one of: schedule, webhook") in (
        cel_failures(schema_of("Trigger"), doc)
    )


def test_the_mapping_is_checked_against_the_workflows_inputs() -> None:
    doc = trigger_doc(input={"title": "body.title", "colour": "body.colour"})
    trigger = parse_resource(doc)
    assert isinstance(trigger, Trigger)
    assert [str(p) for p in input_problems(trigger, WORKFLOW)] == [
        "spec.webhook.input.colour: not an input of this workflow (inputs: title, number, repo)",
        "spec.webhook.input.number: required: map it from the request (or give it in spec.input)",
    ]
    doc = trigger_doc()
    doc["spec"]["input"] = {"repo": 7}
    typed = parse_resource(doc)
    assert isinstance(typed, Trigger)
    assert [p.path for p in input_problems(typed, WORKFLOW)] == ["spec.input.repo"]


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({}, []),
        (
            {"keys": {"env": ["WEBHOOK_GITHUB"]}},
            [
                (
                    "spec.webhook.keys.secretRef",
                    "in a cluster a webhook's keys come from a Secret in the Trigger's "
                    "namespace (secretRef); env is for a gateway serving files",
                )
            ],
        ),
        (
            {"tolerance": "5m"},
            [
                (
                    "spec.webhook.tolerance",
                    "GitHub signs no timestamp; a tolerance applies to signature: standard",
                )
            ],
        ),
        (
            {"format": "cloudevents", "signature": "standard", "deliveryHeader": "X-Id"},
            [
                (
                    "spec.webhook.deliveryHeader",
                    "a CloudEvent's source and id name its delivery; give no deliveryHeader",
                )
            ],
        ),
    ],
)
def test_the_crd_refuses_a_webhook_that_cannot_work_in_a_cluster(
    change: dict[str, Any], refused: list[tuple[str, str]]
) -> None:
    assert cel_failures(schema_of("Trigger"), trigger_doc(**change)) == refused


def test_the_example_validates_with_its_workflow(tmp_path: Path) -> None:
    example = EXAMPLES / "triggers" / "github-pull-request.yaml"
    docs = list(yaml.safe_load_all(example.read_text()))
    assert [d["kind"] for d in docs] == ["Trigger"]
    done = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "validate", str(example)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    broken = copy.deepcopy(docs[0])
    broken["spec"]["webhook"]["input"]["topic"] = "body.pull_request.title +"
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    done = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "validate", str(tmp_path / "broken.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2
    assert "spec.webhook.input.topic: CEL does not parse" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_webhook_trigger_is_ready_naming_its_route_or_stalled_naming_the_field() -> None:
    good = parse_resource(trigger_doc())
    assert isinstance(good, Trigger)
    verdict = judge(good, WORKFLOW, found=True, workflow_health="Ready")
    assert (verdict.health, verdict.reason) == ("Ready", "Listening")
    assert "/v1/triggers/team-a/pull-requests/webhook" in verdict.message
    bad = parse_resource(trigger_doc(input={"title": "body.title"}))
    assert isinstance(bad, Trigger)
    verdict = judge(bad, WORKFLOW, found=True, workflow_health="Ready")
    assert (verdict.health, verdict.reason) == ("Stalled", "InvalidInput")
    assert verdict.message.startswith("spec.webhook.input.number: required")
