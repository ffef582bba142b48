"""The ``a2a`` tool kind: a remote A2A agent called as a tool (``{a2a: {url, headers, timeout}}``).

Credentials never live in a Workflow: a header's value is read from an environment variable of
whatever executes the node (for AgentPools, one taken from a Secret). Only variables named
``A2A_*`` may be named, so a Workflow cannot send an agent's other credentials (its model keys)
to an agent of its choosing.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, WithJsonSchema

from agent_runtime.spec.common import Duration, SpecModel

#: What an ``env`` may name: ``A2A_`` then capitals, digits and underscores.
ENV_PATTERN = r"^A2A_[A-Z0-9_]+$"
#: An HTTP header name (RFC 9110 token).
HEADER_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
#: Headers the client sets itself: a Workflow may not override them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "traceparent",
        "tracestate",
        "a2a-version",
    }
)
URL_MAX_LENGTH = 2048


def http_url(value: str) -> str:
    """An absolute http(s) URL with a host, no user info and no fragment; ValueError if not."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r} must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{value!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "the URL must not hold user info: give credentials in 'headers', from the environment"
        )
    if parts.fragment:
        raise ValueError(f"{value!r} must not have a #fragment")
    return value


def _env_name(value: str) -> str:
    if not re.match(ENV_PATTERN, value):
        raise ValueError(
            f"{value!r} is not an A2A_* variable: a header's value comes only from an environment "
            "variable named A2A_ then capitals, digits or '_' (e.g. A2A_RESEARCH_TOKEN)"
        )
    return value


def _header_name(value: str) -> str:
    if not re.match(HEADER_PATTERN, value):
        raise ValueError(f"{value!r} is not an HTTP header name")
    if value.lower() in RESERVED_HEADERS:
        raise ValueError(f"{value!r} is set by the client itself and cannot be given")
    return value


HttpUrl = Annotated[
    str,
    AfterValidator(http_url),
    WithJsonSchema({"type": "string", "pattern": "^https?://", "maxLength": URL_MAX_LENGTH}),
]


class A2aHeader(SpecModel):
    """A header sent with every request to the remote agent, its value from the environment."""

    name: Annotated[
        str,
        AfterValidator(_header_name),
        WithJsonSchema({"type": "string", "pattern": HEADER_PATTERN, "maxLength": 256}),
    ]
    #: The environment variable holding the value (``A2A_*``).
    env: Annotated[
        str,
        AfterValidator(_env_name),
        WithJsonSchema({"type": "string", "pattern": ENV_PATTERN, "maxLength": 256}),
    ]
    #: Put before the value, e.g. ``"Bearer "`` for a bearer token kept bare in a Secret.
    prefix: str = Field(default="", max_length=64)


class A2aTool(SpecModel):
    #: The agent's base URL; its card is at ``{url}/.well-known/agent-card.json``.
    url: HttpUrl
    headers: list[A2aHeader] = Field(default_factory=list, max_length=16)
    #: How long one call may take, the remote task included.
    timeout: Duration = 300.0
