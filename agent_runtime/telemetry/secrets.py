"""Keeping credentials out of logs, spans and error messages.

Credentials reach our processes only through the environment (provider keys from Secrets), so the
values of variables whose names say they are secret are known: ``redact`` replaces any of them
found in a text. It is applied to every log line and to error messages that leave a process.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

#: Environment variable names whose values are credentials.
SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS?|AUTH)", re.IGNORECASE)
#: Settings whose names match SECRET_NAME but whose values are not secret (``kubernetes,oidc``).
NOT_SECRET = frozenset(
    {
        "CONFIGURABLE_AGENTS_AUTH",
        "CONFIGURABLE_AGENTS_AUTH_AUDIENCES",
        "CONFIGURABLE_AGENTS_INSECURE_NO_AUTH",
        "CONFIGURABLE_AGENTS_TASK_AUTH",
        "CONFIGURABLE_AGENTS_TASK_TOKEN_FILE",
        "CONFIGURABLE_AGENTS_TASK_DISCOVERY_TOKEN_FILE",
    }
)
#: Shorter values are too likely to occur by chance (``true``, port numbers) to be scrubbed.
MIN_LENGTH = 8
MASK = "[REDACTED]"


def _secret_values(environ: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    found = {
        v
        for k, v in environ
        if SECRET_NAME.search(k) and k not in NOT_SECRET and len(v) >= MIN_LENGTH
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
