"""A webhook's signing keys: from a Secret in the Trigger's namespace, or from the environment.

In a cluster the gateway reads the Secret a Trigger names (``keys.secretRef``) in the Trigger's
own namespace, so who may name a key is who may create Triggers there; it needs ``get`` on
Secrets for that (the chart's gateway role), and keeps each Secret for ``ttl`` seconds, so a
flood of deliveries asks the API server once per ``ttl``, and a rotated key is taken within it.
A gateway serving files reads ``keys.env`` variables instead; a gateway in a cluster refuses
them, since every namespace's Triggers could name the same process's variables.

Key values are never logged, never put in an error or a metric.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.kube import KubeClient
from agent_runtime.spec.trigger import Trigger
from agent_runtime.spec.webhook import Scheme

log = logging.getLogger(__name__)

#: Standard Webhooks' secrets: ``whsec_`` then the key in base64.
STANDARD_PREFIX = "whsec_"
#: Seconds a Secret read is kept (found or not).
SECRET_TTL = 10.0


class KeysUnavailable(AgentRuntimeError):
    """The Trigger's keys cannot be had; the message names the field, never a value. The
    sender is answered as for a bad signature: only the gateway's log says why."""

    code = "webhook_keys_unavailable"


def decode_key(value: str | bytes, scheme: Scheme) -> bytes:
    """A key as HMAC takes it: a ``standard`` ``whsec_`` secret is base64, anything else is
    the bytes as given (GitHub's secret is the text typed into its form)."""
    raw = value.encode() if isinstance(value, str) else value
    if scheme == "standard" and raw.startswith(STANDARD_PREFIX.encode()):
        try:
            return base64.b64decode(raw[len(STANDARD_PREFIX) :] + b"==")
        except (binascii.Error, ValueError):
            raise KeysUnavailable("a whsec_ key is not base64") from None
    return raw


class WebhookKeySource:
    """The keys of a Trigger's webhook: ``client`` set, from Secrets; None, from ``environ``."""

    def __init__(
        self,
        client: KubeClient | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        ttl: float = SECRET_TTL,
    ) -> None:
        self.client = client
        self.environ = os.environ if environ is None else environ
        self.ttl = ttl
        self._secrets: dict[tuple[str, str], tuple[float, dict[str, bytes] | None]] = {}
        self._lock = asyncio.Lock()

    def problem(self, trigger: Trigger) -> str | None:
        """Why the trigger's keys cannot be had here whatever the cluster holds (the field at
        fault), or None: a Trigger listing shows it as ``Stalled`` before any delivery comes."""
        webhook = trigger.spec.webhook
        if webhook is None:
            return None
        where = webhook.keys
        if where.env is not None:
            if self.client is not None:
                return (
                    "spec.webhook.keys.env: a gateway in a cluster takes keys only from a Secret "
                    "in the Trigger's namespace (secretRef)"
                )
            if not any(self.environ.get(name) for name in where.env):
                return f"spec.webhook.keys.env: none of {', '.join(where.env)} is set"
        elif self.client is None:
            return (
                "spec.webhook.keys.secretRef: a gateway serving files has no Secrets; give "
                "keys.env (WEBHOOK_* variables) instead"
            )
        return None

    async def keys(self, trigger: Trigger) -> list[bytes]:
        """Every key set for the trigger (current first); KeysUnavailable when none is."""
        webhook = trigger.spec.webhook
        assert webhook is not None, "only webhook triggers have keys"
        if problem := self.problem(trigger):
            raise KeysUnavailable(problem)
        where = webhook.keys
        if where.env is not None:
            values: list[str | bytes] = [
                self.environ[name] for name in where.env if self.environ.get(name)
            ]
        else:
            ref = where.secret_ref
            assert ref is not None
            data = await self._secret(trigger.namespace, ref.name)
            if data is None:
                raise KeysUnavailable(
                    f"spec.webhook.keys.secretRef.name: no Secret {ref.name!r} in namespace "
                    f"{trigger.namespace!r} (or the gateway may not read it)"
                )
            values = [data[key] for key in ref.keys if data.get(key)]
            if not values:
                raise KeysUnavailable(
                    f"spec.webhook.keys.secretRef.keys: Secret {ref.name!r} holds none of "
                    f"{', '.join(ref.keys)}"
                )
        return [decode_key(value, webhook.signature) for value in values]

    async def _secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """The Secret's data, decoded, or None when there is none (or it cannot be read)."""
        now = time.monotonic()
        found = self._secrets.get((namespace, name))
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        async with self._lock:  # one read per Secret at a time, however many deliveries wait
            found = self._secrets.get((namespace, name))
            if found is not None and time.monotonic() - found[0] < self.ttl:
                return found[1]
            data = await self._read(namespace, name)
            self._secrets[(namespace, name)] = (time.monotonic(), data)
            return data

    async def _read(self, namespace: str, name: str) -> dict[str, bytes] | None:
        assert self.client is not None
        try:
            secret = await self.client.get("v1", "Secret", namespace, name)
        except AgentRuntimeError as exc:  # 403 (the gateway may not read it), API server away
            log.warning("webhook keys: Secret %s/%s not read: %s", namespace, name, exc.code)
            return None
        if secret is None:
            return None
        data = secret.get("data") or {}
        out: dict[str, bytes] = {}
        for key, value in data.items():
            try:
                out[key] = base64.b64decode(value)
            except (binascii.Error, ValueError):
                continue
        return out


#: Keys from the environment: a gateway whose app set none (no cluster).
_FROM_ENVIRONMENT = WebhookKeySource()


def key_source(app: Any) -> WebhookKeySource:
    """The app's key source (``app.state.webhook_keys``), else the environment's."""
    source: WebhookKeySource = getattr(app.state, "webhook_keys", _FROM_ENVIRONMENT)
    return source
