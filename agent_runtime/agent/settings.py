"""Agent settings, from CLI flags or ``CONFIGURABLE_AGENTS_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent_runtime.spec.common import Duration


class AgentSettings(BaseSettings):
    """How one agent server listens, what it serves and how it stops.

    The operator sets ``CONFIGURABLE_AGENTS_POOL`` and ``CONFIGURABLE_AGENTS_CAPABILITIES``
    (comma-separated) and passes ``--port`` and ``--max-concurrent-tasks``.
    """

    model_config = SettingsConfigDict(env_prefix="CONFIGURABLE_AGENTS_", frozen=True)

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    #: Tasks executing at once; one more is refused with 429 at once (AgentPool maxConcurrentTasks).
    max_concurrent_tasks: int = Field(default=8, ge=1, le=10_000)
    #: Capabilities this agent serves; a task asking for another gets 409. Empty serves any.
    capabilities: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: The AgentPool this agent belongs to (for logs).
    pool: str = ""
    #: After SIGTERM, how long tasks in flight may take to finish before the server exits anyway.
    #: Keep it below the pod's terminationGracePeriodSeconds (60s).
    drain_timeout: Duration = 45.0
    #: Finished tasks remembered for duplicate requests: how many, and for how long.
    idempotency_cache_size: int = Field(default=1024, ge=0)
    idempotency_ttl: Duration = 600.0
    #: Seconds a refused (429) client is told to wait in ``Retry-After``.
    retry_after: int = Field(default=1, ge=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    @field_validator("capabilities", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def serves(self, capability: str) -> bool:
        return not self.capabilities or capability in self.capabilities
