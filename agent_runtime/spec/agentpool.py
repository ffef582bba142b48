"""The AgentPool kind: pods that execute node tasks and advertise capabilities."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from agent_runtime.spec.common import Condition, ObjectMeta, SpecModel
from agent_runtime.spec.errors import Problem, SpecError

Capability = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
]
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)
#: A Kubernetes resource quantity (k8s.io/apimachinery's ParseQuantity): a number, then a binary
#: or decimal suffix or an exponent.
_QUANTITY = re.compile(
    r"[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?(\d+(\.\d*)?|\.\d+))?"
)


def _quantity_problems(resources: dict[str, Any]) -> list[Problem]:
    """Requests and limits that are no quantity: the CRD keeps ``resources`` free-form, and the
    API server refuses the workload built from them (500, not even 422), so the pool would wait
    for it for ever."""
    problems = []
    for section in ("requests", "limits"):
        amounts = resources.get(section)
        if amounts is None:
            continue
        if not isinstance(amounts, dict):
            problems.append(Problem(section, "must be a map of resource names to quantities"))
            continue
        for name, amount in amounts.items():
            ok = isinstance(amount, int | float) and not isinstance(amount, bool)
            if not ok and not (isinstance(amount, str) and _QUANTITY.fullmatch(amount)):
                message = f"{amount!r} is not a Kubernetes quantity such as 500m, 2 or 1Gi"
                problems.append(Problem(f"{section}.{name}", message))
    return problems


#: What an autoscaled pool scales on: its pods' CPU (an HPA), or the work waiting for its
#: capabilities at the gateway (a KEDA ScaledObject, or an HPA on an External metric).
ScalingMetric = Literal["cpu", "queue"]


class QueueScaling(SpecModel):
    """Scaling on the queue (``autoscaling.metric: queue``): the gateway's figure for the pool is
    the runs waiting for an agent of its capabilities plus those executing that use them (summed
    over its capabilities, in its namespace); replicas = ceil(figure / ``targetPerReplica``)."""

    #: Runs (queued + running) one replica should carry: ``maxConcurrentTasks`` is a natural value.
    target_per_replica: int = Field(default=8, ge=1, le=10_000)
    #: How long the figure must stay at zero before the pool goes back to ``minReplicas: 0``
    #: (KEDA's ``cooldownPeriod``); scaling between 1 and N follows the HPA's own stabilization.
    cooldown_seconds: int = Field(default=300, ge=0, le=86_400)


class Autoscaling(SpecModel):
    metric: ScalingMetric = "cpu"
    #: 0 only with ``metric: queue``: pods cost nothing while no work waits.
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(ge=1)
    #: With ``metric: cpu`` only (the API server fills in its default whatever the metric).
    target_cpu_utilization_percentage: int = Field(
        default=70, ge=1, le=100, alias="targetCPUUtilizationPercentage"
    )
    queue: QueueScaling | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        problems: list[Problem] = []
        if self.max_replicas < self.min_replicas:
            message = f"must not be below minReplicas ({self.min_replicas})"
            problems.append(Problem("maxReplicas", message))
        if self.metric == "cpu":
            if self.min_replicas == 0:
                message = "0 needs metric: queue (CPU cannot wake a pool that has no pods)"
                problems.append(Problem("minReplicas", message))
            if self.queue is not None:
                problems.append(Problem("queue", "only with metric: queue"))
        if problems:
            raise SpecError(problems)
        return self

    @property
    def queue_scaling(self) -> QueueScaling:
        """The queue settings, defaults when none are given."""
        return self.queue or QueueScaling()


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


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IPv4 or IPv6 CIDR as NetworkPolicy takes it: with a prefix length, no host bits set."""
    if "/" not in value:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 CIDR") from None
        raise ValueError(f"{value!r} has no prefix length: write {value}/{address.max_prefixlen}")
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 CIDR") from exc
        raise ValueError(f"{value!r} has host bits set: write {network}") from None


class EgressPort(SpecModel):
    """A destination port, as in a NetworkPolicyPort."""

    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class EgressRule(SpecModel):
    """Addresses the pool's pods may reach: a CIDR but its except networks, on ports (none: all)."""

    cidr: str = Field(max_length=64)
    except_: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, alias="except", max_length=32
    )
    ports: list[EgressPort] = Field(default_factory=list, max_length=32)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        parse_cidr(value)
        return value

    @model_validator(mode="after")
    def _excepts_inside(self) -> EgressRule:
        network = parse_cidr(self.cidr)
        problems: list[Problem] = []
        for i, value in enumerate(self.except_):
            try:
                inner = parse_cidr(value)
            except ValueError as exc:
                problems.append(Problem(f"except[{i}]", str(exc)))
                continue
            if inner.version != network.version or not (
                inner != network and inner.subnet_of(network)  # type: ignore[arg-type]
            ):
                message = f"{value} must be a smaller network inside {self.cidr}"
                problems.append(Problem(f"except[{i}]", message))
        if problems:
            raise SpecError(problems)
        return self


class ExternalMembers(SpecModel):
    """Agents outside the cluster that register with the gateway to serve its capabilities."""

    # ``configurable-agents agent --gateway URL --pool NAME`` with a credential RBAC lets
    # ``create`` ``agentpools/members`` in the pool's namespace; it serves the pool's
    # capabilities (or some of them) and no other.

    #: Whether registrations are accepted at all (off by default: a pool is its pods).
    enabled: bool = False
    #: Live registrations at most; one more is refused (409) until one leaves or lapses.
    max_members: int = Field(default=10, ge=1, le=1000)


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
    #: Where the pool's pods may connect besides DNS (and what the platform adds): the operator
    #: makes it a NetworkPolicy. Empty: nowhere else.
    egress: list[EgressRule] = Field(default_factory=list, max_length=64)
    #: Agents outside the cluster that may register as members of the pool.
    external: ExternalMembers = Field(default_factory=ExternalMembers)

    @field_validator("resources")
    @classmethod
    def _quantities(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = _quantity_problems(value)
        if problems:
            raise SpecError(problems)
        return value

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
    #: Registered agents outside the cluster whose heartbeat is current.
    external_members: int = 0
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class AgentPool(SpecModel):
    api_version: Literal["configurable-agents.io/v1alpha1"] = "configurable-agents.io/v1alpha1"
    kind: Literal["AgentPool"] = "AgentPool"
    metadata: ObjectMeta
    spec: AgentPoolSpec
    status: AgentPoolStatus | None = None
