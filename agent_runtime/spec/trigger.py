"""Trigger: a Workflow's runs started unattended, on a schedule or by a webhook (or CloudEvent).

A kind of its own rather than a Workflow field: who may start runs unattended is granted apart
from who edits Workflows (RBAC); suspending or re-timing a schedule leaves the Workflow's
generation alone (GitOps); each trigger has a status of its own; a Workflow may have many.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from agent_runtime.spec.common import DNS_LABEL, Condition, ObjectMeta, SpecModel
from agent_runtime.spec.errors import Problem
from agent_runtime.spec.run_input import InputError, check_input
from agent_runtime.spec.schedule import Cron, cron_problem, zone_problem
from agent_runtime.spec.webhook import Webhook
from agent_runtime.spec.workflow import Workflow

ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]
#: What a trigger may fire on, exactly one each.
SOURCES = ("schedule", "webhook")


class Schedule(SpecModel):
    """When runs start, with a CronJob's field names and meaning."""

    schedule: str = Field(min_length=1, max_length=256)
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)
    concurrency_policy: ConcurrencyPolicy = "Allow"
    #: A tick not started within this many seconds (every gateway down) is missed for good.
    starting_deadline_seconds: int | None = Field(default=None, ge=0)
    successful_runs_history_limit: int = Field(default=3, ge=0)
    failed_runs_history_limit: int = Field(default=1, ge=0)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if problem := cron_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if problem := zone_problem(value):
            raise ValueError(problem)
        return value

    @property
    def cron(self) -> Cron:
        return Cron(self.schedule, self.time_zone)


class TriggerSpec(SpecModel):
    #: A Workflow in the Trigger's namespace.
    workflow: Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
    #: Each run's input, checked against the Workflow's inputs (a webhook's runs: with the
    #: fields its ``input`` maps from the request).
    input: dict[str, Any] = Field(default_factory=dict)
    suspend: bool = False
    schedule: Schedule | None = None
    webhook: Webhook | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TriggerSpec:
        given = [name for name in SOURCES if getattr(self, name) is not None]
        if not given:
            raise ValueError(
                "schedule: required (a trigger fires on exactly one of: schedule, webhook)"
            )
        if len(given) > 1:
            raise ValueError(
                f"{given[1]}: a trigger fires on exactly one of: schedule, webhook (both given)"
            )
        if self.webhook is not None:
            for name in self.webhook.input:
                if name in self.input:
                    raise ValueError(
                        f"webhook.input.{name}: given in spec.input too; give it in one place"
                    )
        return self


class ActiveRun(SpecModel):
    run_id: str


class TriggerStatus(SpecModel):
    model_config = SpecModel.model_config | {"extra": "allow"}

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    last_schedule_time: str | None = None
    last_successful_time: str | None = None
    active: list[ActiveRun] = Field(default_factory=list)


class Trigger(SpecModel):
    api_version: Literal["configurable-agents.io/v1alpha1"] = "configurable-agents.io/v1alpha1"
    kind: Literal["Trigger"] = "Trigger"
    metadata: ObjectMeta
    spec: TriggerSpec
    status: TriggerStatus | None = None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or "default"


def input_problems(trigger: Trigger, workflow: Workflow) -> list[Problem]:
    """What is wrong with the trigger's input for this Workflow, each naming its field."""
    if trigger.spec.webhook is not None:
        return _mapped_input_problems(trigger.spec.input, trigger.spec.webhook, workflow)
    try:
        check_input(workflow.spec, trigger.spec.input)
    except InputError as exc:
        return [
            Problem("spec." + line.split(":", 1)[0], line.split(":", 1)[1].strip())
            for line in exc.problems
        ]
    return []


def _mapped_input_problems(
    given: dict[str, Any], webhook: Webhook, workflow: Workflow
) -> list[Problem]:
    """A webhook's runs take the fixed ``input`` and the mapped fields: together exactly the
    Workflow's inputs, the fixed ones each of its type (the mapped ones are checked per request)."""
    spec, problems = workflow.spec, []
    inputs = ", ".join(spec.input) or "none"
    for name, value in given.items():
        if name not in spec.input:
            problems.append(
                Problem(f"spec.input.{name}", f"not an input of this workflow (inputs: {inputs})")
            )
        elif (why := spec.state[name].check(value)) is not None:
            inside = why.startswith(("[", "."))  # a problem inside the value: ``tags[0]: ...``
            path, _, message = (f"{name}{why}" if inside else f"{name}: {why}").partition(": ")
            problems.append(Problem(f"spec.input.{path}", message))
    for name in webhook.input:
        if name not in spec.input:
            problems.append(
                Problem(
                    f"spec.webhook.input.{name}",
                    f"not an input of this workflow (inputs: {inputs})",
                )
            )
    for name in spec.input:
        if name not in given and name not in webhook.input:
            problems.append(
                Problem(
                    f"spec.webhook.input.{name}",
                    "required: map it from the request (or give it in spec.input)",
                )
            )
    return problems
