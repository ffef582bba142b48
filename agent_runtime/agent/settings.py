"""Agent settings, from CLI flags or ``CONFIGURABLE_AGENTS_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent_runtime.auth import AGENT_AUDIENCE, TaskAuthMode, TaskTokenVerifier
from agent_runtime.policy import PolicyError, Preset, ToolPolicy, policy_from
from agent_runtime.policy.loading import ENV_VARIABLES, split_setting
from agent_runtime.spec.common import Duration

#: A DNS label, or empty.
_NAME = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"
#: Where a pod finds its own ServiceAccount's token and the cluster's CA.
POD_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


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

    #: Who may send tasks (``auth.task_tokens``): ``kubernetes`` (the gateway's ServiceAccount
    #: token, verified against the cluster's issuer), ``secret`` (signed with a shared secret),
    #: or ``none`` (anyone who reaches the port; only for agents on a loopback address).
    task_auth: TaskAuthMode = "none"
    task_audience: str = AGENT_AUDIENCE
    #: With ``kubernetes``: the cluster's ServiceAccount issuer and the accounts allowed.
    task_issuer: str = "https://kubernetes.default.svc.cluster.local"
    task_callers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    task_ca_file: str | None = f"{POD_ACCOUNT}/ca.crt"
    #: Read by the issuer's discovery endpoints, which a cluster serves to its accounts only.
    task_discovery_token_file: str | None = f"{POD_ACCOUNT}/token"
    #: With ``secret``: the shared secret (from a Secret, through the environment).
    task_secret: SecretStr | None = None

    #: Outside the cluster (``agent --gateway URL``): the gateway this agent registers with as
    #: a member of the AgentPool ``pool`` in ``namespace`` (``agent_runtime.agent.membership``).
    gateway: str | None = Field(default=None, pattern=r"^https?://")
    namespace: str = Field(default="", max_length=63)
    #: Take tasks by asking the gateway for them (behind NAT) instead of being sent them.
    pull: bool = False
    #: The member's name in the pool (default: this host's name and port).
    member_name: str = Field(
        default="", max_length=63, pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$"
    )
    #: Where the gateway sends tasks to this agent (push): ``http(s)://host:port``.
    advertise: str | None = Field(default=None, pattern=r"^https?://")
    #: The registration's time to live; the heartbeat renews it three times within it.
    member_ttl: Duration = Field(default=15.0, ge=3, le=300)
    #: The credential the gateway authenticates (a ServiceAccount or OIDC token): from the
    #: environment, or a file read again at each call (a projected token rotates).
    gateway_token: SecretStr | None = None
    gateway_token_file: str | None = None

    #: The platform tool policy (``agent_runtime.policy``), ``CONFIGURABLE_AGENTS_POLICY_*``:
    #: a preset (an agent starts from ``cluster``: no function tools, no loopback or private
    #: addresses), a file, then each setting given here. None leaves the preset's or file's.
    policy_preset: Preset | None = None
    policy_file: str | None = None
    policy_allowed_functions: Annotated[list[str] | None, NoDecode] = None
    policy_egress_allow: Annotated[list[str] | None, NoDecode] = None
    policy_allow_loopback: bool | None = None
    policy_allow_private: bool | None = None

    @field_validator("capabilities", "task_callers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("policy_allowed_functions", "policy_egress_allow", mode="before")
    @classmethod
    def _policy_list(cls, value: Any) -> Any:
        return split_setting(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _tool_policy_valid(self) -> AgentSettings:
        """A bad policy stops the agent at start, not at its first task."""
        try:
            self.tool_policy()
        except PolicyError as exc:
            raise ValueError(str(exc)) from None
        return self

    def tool_policy(self) -> ToolPolicy:
        """The policy this agent's tools run under (pass it to the TaskExecutor)."""
        values = {
            "allowedFunctions": self.policy_allowed_functions,
            "egressAllow": self.policy_egress_allow,
            "allowLoopback": self.policy_allow_loopback,
            "allowPrivate": self.policy_allow_private,
        }
        return policy_from(
            default="cluster",
            preset=self.policy_preset,
            file=self.policy_file,
            values={k: v for k, v in values.items() if v is not None},
            names=ENV_VARIABLES,
        )

    @model_validator(mode="after")
    def _task_auth_complete(self) -> AgentSettings:
        if self.task_auth == "kubernetes" and not self.task_callers:
            raise ValueError("task_auth kubernetes needs task_callers (the gateway's accounts)")
        if self.task_auth == "secret" and not self.task_secret:
            raise ValueError("task_auth secret needs task_secret")
        return self

    @model_validator(mode="after")
    def _membership_complete(self) -> AgentSettings:
        if self.gateway is None:
            return self
        if not self.pool:
            raise ValueError("pool: an agent registering with a gateway needs --pool")
        if not self.namespace:
            raise ValueError("namespace: an agent registering with a gateway needs --namespace")
        if not self.pull and not self.advertise:
            raise ValueError("advertise: give the URL the gateway reaches this agent at, or --pull")
        if self.pull and self.advertise:
            raise ValueError("advertise: a pulling agent is not reached by the gateway")
        if self.gateway_token and self.gateway_token_file:
            raise ValueError("gateway_token_file: give the token or its file, not both")
        return self

    def task_verifier(self) -> TaskTokenVerifier:
        return TaskTokenVerifier(
            self.task_auth,
            audience=self.task_audience,
            issuer=self.task_issuer,
            callers=tuple(self.task_callers),
            ca_file=self.task_ca_file,
            discovery_token_file=self.task_discovery_token_file,
            secret=self.task_secret.get_secret_value() if self.task_secret else None,
        )

    def serves(self, capability: str) -> bool:
        return not self.capabilities or capability in self.capabilities
