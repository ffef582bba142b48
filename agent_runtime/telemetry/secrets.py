"""Keeping credentials out of logs, spans and error messages.

Credentials reach our processes only through the environment (provider keys from Secrets), so
their values are known: those of variables whose names say they are secret, and those of the
variables listed in ``CONFIGURABLE_AGENTS_SECRET_ENV`` (the operator lists there every variable an
AgentPool takes from a Secret, whatever its name: ``DATABASE_URL``, ``CRM_LOGIN``). ``redact``
replaces any of them found in a text. It is applied to every log line, span attribute and error
message that leaves a process.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Any

#: Environment variable names whose values are credentials (a superset of what an AgentPool's
#: ``env`` refuses as a literal value: ``KEY`` covers ``STRIPE_KEY`` and ``PRIVATE_KEY`` too).
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH)", re.IGNORECASE)
#: Comma-separated names of further variables whose values are secret, whatever their names.
SECRET_ENV = "CONFIGURABLE_AGENTS_SECRET_ENV"
#: Settings whose names match SECRET_NAME but whose values are not secret (``kubernetes,oidc``).
NOT_SECRET = frozenset(
    {
        "CONFIGURABLE_AGENTS_AUTH",
        "CONFIGURABLE_AGENTS_AUTH_AUDIENCES",
        "CONFIGURABLE_AGENTS_INSECURE_NO_AUTH",
        "CONFIGURABLE_AGENTS_TASK_AUTH",
        "CONFIGURABLE_AGENTS_TASK_TOKEN_FILE",
        "CONFIGURABLE_AGENTS_TASK_DISCOVERY_TOKEN_FILE",
        SECRET_ENV,
    }
)
#: Shorter values are too likely to occur by chance (``true``, port numbers) to be scrubbed.
MIN_LENGTH = 8
MASK = "[REDACTED]"


def _secret_values(environ: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    listed = {
        name.strip() for k, v in environ if k == SECRET_ENV for name in v.split(",") if name.strip()
    }
    found = {
        v
        for k, v in environ
        if len(v) >= MIN_LENGTH and (k in listed or (SECRET_NAME.search(k) and k not in NOT_SECRET))
    }
    return tuple(sorted(found, key=len, reverse=True))


_cached = lru_cache(maxsize=4)(_secret_values)


def secret_values() -> tuple[str, ...]:
    """The secret values of the current environment (cached while it is unchanged)."""
    return _cached(tuple(sorted(os.environ.items())))


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``[REDACTED]``."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_value(value: Any) -> Any:
    """A JSON-like ``value`` with every known secret value in its strings (keys too) replaced."""
    if not secret_values():
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    return value
