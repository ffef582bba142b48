"""The platform tool policy and its two presets.

``local`` is for ``configurable-agents run`` on your own machine: any function, loopback allowed.
``cluster`` is what agents and gateways get unless the installer says otherwise: no function at
all, loopback and private ranges refused. Both let tools reach public addresses (``*``); the
installer narrows that with ``egressAllow``. Link-local and metadata addresses are refused by
every policy.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import Field, field_validator

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.policy.functions import PATTERN_FORMS, FunctionPattern, well_formed
from agent_runtime.policy.prefixes import UrlPrefix
from agent_runtime.spec.common import SpecModel

Preset = Literal["local", "cluster"]
ANY_URL = "*"

#: How each setting is named in messages: the policy file's key and the environment variable.
SETTING_NAMES = {
    "allowed_functions": "allowedFunctions",
    "egress_allow": "egressAllow",
    "allow_loopback": "allowLoopback",
    "allow_private": "allowPrivate",
}


class PolicyError(AgentRuntimeError, ValueError):
    """The policy's own configuration is wrong (a bad pattern, prefix, file or variable)."""

    code = "invalid_policy"


class ToolPolicy(SpecModel):
    """What the platform lets Workflows' tools do; set by the installer, never by a Workflow."""

    #: Import-path patterns of the callables ``function`` tools may name (see ``functions``).
    allowed_functions: list[str] = Field(default_factory=list)
    #: URL prefixes MCP servers and ``http_get`` may reach; ``*`` is any URL. A prefix naming a
    #: host also lets that host's URLs reach loopback and private addresses (an in-cluster MCP
    #: server, say); ``*`` reaches only public ones unless the two switches below allow more.
    egress_allow: list[str] = Field(default_factory=lambda: [ANY_URL])
    allow_loopback: bool = False
    #: Private, unique-local, carrier-grade NAT and other non-global ranges (pods, Services).
    allow_private: bool = False

    @classmethod
    def preset(cls, name: Preset) -> ToolPolicy:
        return cls.local() if name == "local" else cls.cluster()

    @classmethod
    def local(cls) -> ToolPolicy:
        return cls(allowed_functions=["*"], allow_loopback=True)

    @classmethod
    def cluster(cls) -> ToolPolicy:
        return cls()

    @field_validator("allowed_functions")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for text in value:
            FunctionPattern.parse(text)
        return [text.strip() for text in value]

    @field_validator("egress_allow")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for text in value:
            if text.strip() != ANY_URL:
                try:
                    UrlPrefix.parse(text.strip())
                except ValueError as exc:
                    raise ValueError(f"{text!r} is not * or a URL prefix: {exc}") from None
        return [text.strip() for text in value]

    @cached_property
    def function_patterns(self) -> list[FunctionPattern]:
        return [FunctionPattern.parse(text) for text in self.allowed_functions]

    @cached_property
    def egress_prefixes(self) -> list[UrlPrefix]:
        """The prefixes naming hosts (every entry but ``*``)."""
        return [UrlPrefix.parse(text) for text in self.egress_allow if text != ANY_URL]

    @property
    def any_url(self) -> bool:
        return ANY_URL in self.egress_allow

    def function_refusal(self, path: str) -> str | None:
        """Why ``path`` may not be a function tool (one line naming the rule); None if it may."""
        if not well_formed(path):
            return f"{path!r} is not an import path of the form pkg.module:function"
        if any(pattern.matches(path) for pattern in self.function_patterns):
            return None
        allowed = ", ".join(self.allowed_functions) or "none"
        return (
            f"{path!r} is not allowed by the platform tool policy (allowedFunctions: {allowed}; "
            f"patterns are {PATTERN_FORMS})"
        )

    def summary(self) -> dict[str, Any]:
        """The policy as the file and Helm values spell it (for logs and messages)."""
        return self.model_dump(by_alias=True)
