"""Operator settings, from the environment (``CONFIGURABLE_AGENTS_OPERATOR_*``) or flags."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONFIGURABLE_AGENTS_OPERATOR_", frozen=True)

    #: Image for AgentPools that name none.
    agent_image: str = "ghcr.io/configurable-agents/agent:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    #: Namespaces to watch; empty means the whole cluster.
    namespaces: list[str] = Field(default_factory=list)
    metrics_port: int = 9090
    health_port: int = 8081
    agent_port: int = 8080
    field_manager: str = "configurable-agents-operator"
    #: kopf peering object (ClusterKopfPeering, or KopfPeering per watched namespace): replicas
    #: sharing it let only the highest priority work, so several can run for fail-over. Empty runs
    #: standalone, which is safe only for one replica.
    peering: str = ""
    #: This replica's peering priority. Replicas of equal priority all pause, so by default each
    #: picks a random one.
    peering_priority: int | None = Field(default=None, ge=0)

    #: Accounts (``system:serviceaccount:NS:NAME``, comma-separated) whose tokens agent pods
    #: accept tasks from: the gateway's. Empty leaves agents open to anyone who reaches them.
    task_callers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: The cluster's ServiceAccount issuer, which agents verify those tokens against (EKS, GKE
    #: and others have their own: ``kubectl get --raw /.well-known/openid-configuration``).
    task_issuer: str = "https://kubernetes.default.svc.cluster.local"
    #: Where the gateway runs: set, each pool gets a NetworkPolicy letting only pods with
    #: ``gateway_pod_labels`` there (and ``agents_from``) reach its agents.
    gateway_namespace: str = ""
    gateway_pod_labels: dict[str, str] = Field(default_factory=dict)
    #: More NetworkPolicyPeers that may reach agent pods (e.g. Prometheus), as a JSON list.
    agents_from: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("task_callers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
