"""Keeping credentials out of logs, spans and error messages.

Credentials reach our processes only through the environment (provider keys from Secrets), so
their values are known: those of variables whose names say they are secret, and those of the
variables listed in ``CONFIGURABLE_AGENTS_SECRET_ENV`` (the operator lists there every variable an
AgentPool takes from a Secret, whatever its name: ``DATABASE_URL``, ``CRM_LOGIN``). ``redact``
replaces any of them found in a text. It is applied to every log line, span attribute and error
message that leaves a process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

#: Environment variable names whose values are credentials: ``KEY`` ending a word covers
#: ``STRIPE_KEY``, ``PRIVATE_KEY`` and ``APIKEY`` (not ``KEYCLOAK_URL``); ``A2A_*`` variables
#: hold the headers ``a2a`` tools send (``spec.a2a``), whatever their names.
SECRET_NAME = re.compile(
    r"(^A2A_|KEY(_|$)|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH)", re.IGNORECASE
)
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


def _secret_items(raw: tuple[tuple[bytes, bytes], ...]) -> tuple[tuple[str, str], ...]:
    environ = [(os.fsdecode(k), os.fsdecode(v)) for k, v in raw]
    listed = {
        name.strip() for k, v in environ if k == SECRET_ENV for name in v.split(",") if name.strip()
    }
    found = {
        (k, v)
        for k, v in environ
        if len(v) >= MIN_LENGTH and (k in listed or (SECRET_NAME.search(k) and k not in NOT_SECRET))
    }
    # Longest first, so a secret holding another is replaced whole.
    return tuple(sorted(found, key=lambda item: (-len(item[1]), item[0])))


_cached = lru_cache(maxsize=4)(_secret_items)


def _environment() -> tuple[tuple[bytes, bytes], ...]:
    """The environment as it is now, as the cache's key. ``os.environ`` decodes every name and
    value on each pass (0.3 ms for a hundred variables, paid at each redaction: several times a
    step); the bytes dict behind it (CPython's ``_data``) is copied by one C call."""
    data = getattr(os.environ, "_data", None)
    if isinstance(data, dict):
        return tuple(data.items())
    return tuple((os.fsencode(k), os.fsencode(v)) for k, v in os.environ.items())


def secret_items() -> tuple[tuple[str, str], ...]:
    """(name, value) of the secret variables of the current environment (cached while unchanged)."""
    return _cached(_environment())


def secret_values() -> tuple[str, ...]:
    """The secret values of the current environment."""
    return tuple(value for _, value in secret_items())


def redact(text: str) -> str:
    """``text`` with every known secret value replaced by ``[REDACTED]``."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    return text


def _walk(value: Any, text: Callable[[str], str]) -> Any:
    """``value`` (JSON-like) with ``text`` applied to each string in it, keys included."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, list):
        return [_walk(v, text) for v in value]
    if isinstance(value, dict):
        return {_walk(k, text): _walk(v, text) for k, v in value.items()}
    return value


def redact_value(value: Any) -> Any:
    """A JSON-like ``value`` with every known secret value in its strings (keys too) replaced."""
    return _walk(value, redact) if secret_values() else value


#: What ``seal`` leaves instead of a secret: the variable's name and a tag bound to the context.
_SEALED = re.compile(r"\[REDACTED:([A-Za-z_][A-Za-z0-9_]*):([0-9a-f]{16})\]")


def _tag(name: str, value: str, context: str) -> str:
    """Only a holder of the secret can make it, so a model cannot forge a reference to a key."""
    message = f"{name}\0{context}".encode()
    return hmac.new(value.encode(), message, hashlib.sha256).hexdigest()[:16]


def seal(value: Any, context: str) -> Any:
    """``value`` with each known secret replaced by ``[REDACTED:NAME:TAG]``, which ``unseal`` turns
    back in a process holding the same secret (a pod of the same pool), for the same ``context``
    (a run id). For what a run must keep but not show: the arguments of a tool call that waits
    (for an approval, or for the engine to make it) in the run's checkpoint."""
    items = secret_items()
    if not items:
        return value

    def text(found: str) -> str:
        for name, secret in items:
            if secret in found:
                found = found.replace(secret, f"[REDACTED:{name}:{_tag(name, secret, context)}]")
        return found

    return _walk(value, text)


def unseal(value: Any, context: str) -> Any:
    """``value`` with the references ``seal`` made for ``context`` turned back into the secrets of
    this environment; anything else (a reference made up by a model, another run's) stays."""
    secrets = dict(secret_items())

    def back(match: re.Match[str]) -> str:
        secret = secrets.get(match[1])
        if secret is not None and hmac.compare_digest(match[2], _tag(match[1], secret, context)):
            return secret
        return match[0]

    def text(found: str) -> str:
        return _SEALED.sub(back, found) if "[REDACTED:" in found else found

    return _walk(value, text) if secrets else value
