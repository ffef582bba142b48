"""Gateway settings, from flags or ``CONFIGURABLE_AGENTS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent_runtime.engine.runner import local_owner


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONFIGURABLE_AGENTS_", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8000
    #: Run store URL; the default is a SQLite file in the working directory.
    store: str | None = None
    #: Serve the Workflows found in this folder's YAML files.
    workflows: Path | None = None
    #: capability -> agent base URLs; empty means agents run in this process.
    agents: dict[str, list[str]] = Field(default_factory=dict)
    #: Serve the cluster's Workflows and find agents through EndpointSlices (watch-fed).
    kubernetes: bool = False
    #: With ``kubernetes``: only this namespace (else all).
    namespace: str | None = None
    #: Runs this replica executes at once.
    concurrency: int = Field(default=32, ge=1)
    lease_ttl: float = Field(default=30.0, gt=0)
    #: How often idle workers look for runs queued by other replicas or left by dead ones.
    poll_interval: float = Field(default=0.5, gt=0)
    #: How long a run waiting for agents stays queued before it is tried again.
    wait_backoff: float = Field(default=2.0, gt=0)
    owner: str = Field(default_factory=local_owner)
