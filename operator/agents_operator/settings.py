"""Operator settings, from the environment (``CONFIGURABLE_AGENTS_OPERATOR_*``) or flags."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
