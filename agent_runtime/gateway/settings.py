"""Gateway settings, from flags or ``CONFIGURABLE_AGENTS_*`` environment variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent_runtime.auth import AGENT_AUDIENCE, TaskTokenSource
from agent_runtime.engine.leases import local_owner
from agent_runtime.policy import PolicyError, ToolPolicy, load_policy
from agent_runtime.policy.addresses import is_loopback
from agent_runtime.policy.budgets import BudgetPolicy, load_budget_policy

#: A Kubernetes namespace name (an RFC 1123 label).
NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _check_name(name: str) -> str:
    if not NAMESPACE.fullmatch(name):
        raise ValueError(f"{name!r} is not a namespace name (lowercase letters, digits and '-')")
    return name


Namespace = Annotated[str, AfterValidator(_check_name)]
AuthMode = Literal["kubernetes", "oidc"]


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
    #: The longest a ``wait: true`` request is held; then it is answered 202 as without ``wait``.
    wait_timeout: float = Field(default=60.0, gt=0)
    #: Stream models' text as written (``node.delta`` events); off: each answer comes whole.
    stream_tokens: bool = True
    #: Seconds of streamed text per ``node.delta`` event written (the first piece goes at once).
    delta_interval: float = Field(default=0.1, gt=0)
    #: The largest webhook body taken (``/v1/triggers/.../webhook``); a larger one is a 413.
    webhook_max_bytes: int = Field(default=1_048_576, ge=1)

    #: How callers are authenticated (env: ``kubernetes,oidc``); empty: nobody is asked.
    auth: Annotated[list[AuthMode], NoDecode] = Field(default_factory=list)
    #: With ``kubernetes``: audiences a token must be meant for (empty: the API server's own).
    auth_audiences: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Serve without authentication where that is refused by default (any non-loopback bind,
    #: or ``kubernetes``); said in the log and on ``/readyz``.
    insecure_no_auth: bool = False
    oidc_issuer_url: str | None = None
    oidc_audience: str | None = None
    oidc_username_claim: str = "sub"
    oidc_username_prefix: str | None = None
    oidc_groups_claim: str = "groups"
    oidc_groups_prefix: str = ""
    oidc_ca_file: str | None = None
    #: What proves to agents that a task comes from this gateway (``auth.task_tokens``): a
    #: projected ServiceAccount token file (in a cluster), or a secret shared with the agents.
    task_token_file: str | None = None
    task_secret: SecretStr | None = None
    task_audience: str = AGENT_AUDIENCE
    #: Runs a caller may start per second, sustained, across every replica (0: no limit), and
    #: how many at once after a quiet spell; likewise per namespace.
    caller_run_rate: float = Field(default=0.0, ge=0)
    caller_run_burst: int = Field(default=20, ge=1)
    namespace_run_rate: float = Field(default=0.0, ge=0)
    namespace_run_burst: int = Field(default=100, ge=1)
    #: Runs of one namespace executing at once across every replica (0: no cap); beyond it new
    #: runs wait queued, or are refused when the caller asks (``queue: false``).
    namespace_max_in_flight: int = Field(default=0, ge=0)

    @field_validator("namespaces", "auth", "auth_audiences", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("auth")
    @classmethod
    def _once(cls, value: list[AuthMode]) -> list[AuthMode]:
        return list(dict.fromkeys(value))

    @field_validator("oidc_issuer_url")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = urlsplit(value)
        if url.scheme == "https" and url.hostname:
            return value
        if url.scheme == "http" and url.hostname and is_loopback(url.hostname):
            return value  # local use and tests
        raise ValueError("must be an https:// URL (http:// only on a loopback address)")

    @model_validator(mode="after")
    def _secured(self) -> GatewaySettings:
        if "oidc" in self.auth and not (self.oidc_issuer_url and self.oidc_audience):
            raise ValueError("auth oidc needs oidc_issuer_url and oidc_audience")
        try:
            self.tool_policy()
        except PolicyError as exc:
            raise ValueError(f"platform tool policy: {exc}") from None
        try:
            self.budget_policy()
        except PolicyError as exc:
            raise ValueError(f"platform budget policy: {exc}") from None
        if self.task_token_file and self.task_secret:
            raise ValueError("task_token_file and task_secret: choose one")
        if self.auth and self.insecure_no_auth:
            raise ValueError("insecure_no_auth contradicts auth: choose one")
        if not self.auth and not self.insecure_no_auth:
            exposed = "kubernetes is set" if self.kubernetes else None
            if not is_loopback(self.host):
                exposed = f"host {self.host} is not a loopback address"
            if exposed:
                raise ValueError(
                    f"refusing to serve without authentication: {exposed}; set auth "
                    "(--auth kubernetes|oidc) or insecure_no_auth (--insecure-no-auth) to let "
                    "anyone who reaches the gateway run and read every run"
                )
        return self

    def tool_policy(self) -> ToolPolicy:
        """The platform tool policy of Workflows served here and of tools run in this process,
        ``CONFIGURABLE_AGENTS_POLICY_*`` over it: ``local`` only for one person's own ``serve``
        (a loopback address, no ``kubernetes``, nobody to authenticate), else ``cluster`` (no
        functions, no loopback or private addresses). Authentication on a loopback bind means
        others reach it (through a proxy or a tunnel), and their runs' tools must not reach this
        machine's other services."""
        own = not (self.kubernetes or self.auth or self.insecure_no_auth)
        return load_policy(default="local" if own and is_loopback(self.host) else "cluster")

    def budget_policy(self) -> BudgetPolicy | None:
        """The namespace budgets of the platform policy file (its ``budgets:``); None: none."""
        return load_budget_policy()

    def task_tokens(self) -> TaskTokenSource | None:
        """Where tasks' tokens come from (None: agents that ask for none)."""
        if self.task_token_file is None and self.task_secret is None:
            return None
        secret = self.task_secret.get_secret_value() if self.task_secret else None
        return TaskTokenSource(
            token_file=self.task_token_file, secret=secret, audience=self.task_audience
        )

    @field_validator("namespace")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _check_name(value) if value else None

    @property
    def served_namespaces(self) -> list[str]:
        """The namespaces to watch, in order and once each; empty means the whole cluster."""
        chosen = [*([self.namespace] if self.namespace else []), *self.namespaces]
        return list(dict.fromkeys(chosen))
