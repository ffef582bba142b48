"""Gateway settings, from flags or ``CONFIGURABLE_AGENTS_*`` environment variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent_runtime.engine.runner import local_owner

#: A Kubernetes namespace name (an RFC 1123 label).
NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _check_name(name: str) -> str:
    if not NAMESPACE.fullmatch(name):
        raise ValueError(f"{name!r} is not a namespace name (lowercase letters, digits and '-')")
    return name


Namespace = Annotated[str, AfterValidator(_check_name)]


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
    #: With ``kubernetes``: only these namespaces, each watched on its own (empty: the whole
    #: cluster). From the environment as a comma-separated list.
    namespaces: Annotated[list[Namespace], NoDecode] = Field(default_factory=list)
    #: The older single-namespace setting, still honoured: added to ``namespaces``.
    namespace: str | None = None
    #: Runs this replica executes at once.
    concurrency: int = Field(default=32, ge=1)
    lease_ttl: float = Field(default=30.0, gt=0)
    #: How often idle workers look for runs queued by other replicas or left by dead ones.
    poll_interval: float = Field(default=0.5, gt=0)
    #: How long a run waiting for agents stays queued before it is tried again.
    wait_backoff: float = Field(default=2.0, gt=0)
    owner: str = Field(default_factory=local_owner)

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("namespace")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _check_name(value) if value else None

    @property
    def served_namespaces(self) -> list[str]:
        """The namespaces to watch, in order and once each; empty means the whole cluster."""
        chosen = [*([self.namespace] if self.namespace else []), *self.namespaces]
        return list(dict.fromkeys(chosen))
