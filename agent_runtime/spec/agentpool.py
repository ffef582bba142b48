"""The AgentPool kind: pods that execute node tasks and advertise capabilities."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from agent_runtime.spec.common import Condition, ObjectMeta, SpecModel

Capability = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)


class Autoscaling(SpecModel):
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(ge=1)
    target_cpu_utilization_percentage: int = Field(
        default=70, ge=1, le=100, alias="targetCPUUtilizationPercentage"
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas: must not be below minReplicas ({self.min_replicas})")
        return self


class EnvVar(SpecModel):
    """A container environment variable; credentials must come through ``valueFrom``."""

    model_config = SpecModel.model_config | {"alias_generator": None}

    name: Annotated[str, Field(min_length=1)]
    value: str | None = None
    valueFrom: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _no_literal_secrets(self) -> EnvVar:
        if self.value and _SECRET_NAME.search(self.name):
            raise ValueError(
                f"value: {self.name} looks like a credential: take it from a Secret with "
                "valueFrom.secretKeyRef instead of a literal value"
            )
        return self


class PodTemplate(SpecModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    affinity: dict[str, Any] = Field(default_factory=dict)
    service_account_name: str | None = None


class AgentPoolSpec(SpecModel):
    capabilities: list[Capability] = Field(min_length=1)
    image: str = ""
    workload: Literal["Deployment", "StatefulSet"] = "Deployment"
    replicas: int = Field(default=1, ge=0)
    autoscaling: Autoscaling | None = None
    max_concurrent_tasks: int = Field(default=8, ge=1, le=10_000)
    env: list[EnvVar] = Field(default_factory=list)
    resources: dict[str, Any] = Field(default_factory=dict)
    pod_template: PodTemplate = Field(default_factory=PodTemplate)

    @model_validator(mode="after")
    def _unique_capabilities(self) -> AgentPoolSpec:
        if len(set(self.capabilities)) != len(self.capabilities):
            raise ValueError("capabilities: each capability may be listed once")
        return self


class AgentPoolStatus(SpecModel):
    model_config = SpecModel.model_config | {"extra": "allow"}

    replicas: int = 0
    ready_replicas: int = 0
    selector: str = ""
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class AgentPool(SpecModel):
    api_version: Literal["configurable-agents.io/v1alpha1"] = "configurable-agents.io/v1alpha1"
    kind: Literal["AgentPool"] = "AgentPool"
    metadata: ObjectMeta
    spec: AgentPoolSpec
    status: AgentPoolStatus | None = None
