"""A verified request read as a delivery: its payload, its headers, and what names it.

A JSON webhook is named by its delivery header; a CloudEvent (binary or structured mode, read
by the ``cloudevents`` SDK) by its ``source`` and ``id``, which the CloudEvents spec makes
unique, so a sender's retry of an event is recognised whatever its transport headers say.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.webhooks.signatures import SIGNATURE_HEADERS
from agent_runtime.spec.webhook import Webhook

#: A delivery id or an event's source and id become part of a run's idempotency key: bounded,
#: printable.
NAME_MAX_LENGTH = 256
_PRINTABLE = re.compile(r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")
#: Credentials a sender (or a proxy) may send along: never shown to a mapping.
HIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"}) | SIGNATURE_HEADERS


class InvalidPayload(AgentRuntimeError):
    """400: a signed request that is no delivery (not JSON, not a CloudEvent, no delivery id)."""

    code = "invalid_payload"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.details = [{"field": field, "message": message}]


@dataclass(frozen=True)
class Delivery:
    #: What a mapping reads: ``body``, ``headers`` and, for a CloudEvent, ``event``.
    variables: dict[str, Any]
    #: The delivery header's value (JSON), or None (a CloudEvent).
    delivery: str | None = None
    event_id: str | None = None
    event_source: str | None = None

    def key(self, namespace: str, name: str) -> str:
        """The idempotency key of its run: one run per delivery (per event) and trigger."""
        if self.event_id is not None:
            return f"cloudevent:{namespace}/{name}#{self.event_source}#{self.event_id}"
        return f"webhook:{namespace}/{name}#{self.delivery}"


def visible_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in HIDDEN_HEADERS}


def read_delivery(webhook: Webhook, headers: Mapping[str, str], body: bytes) -> Delivery:
    """The delivery of a verified request (``headers``: lowercase names)."""
    shown = visible_headers(headers)
    if webhook.format == "cloudevents":
        return _cloudevent(headers, body, shown)
    header = webhook.delivery.lower()
    delivery = _name(header, headers.get(header, ""))
    try:
        payload = json.loads(body) if body else None
    except (ValueError, RecursionError):
        raise InvalidPayload("body", "not JSON (UTF-8)") from None
    return Delivery({"body": payload, "headers": shown}, delivery=delivery)


def _cloudevent(headers: Mapping[str, str], body: bytes, shown: dict[str, str]) -> Delivery:
    from cloudevents.core.bindings.http import HTTPMessage, from_http
    from cloudevents.core.exceptions import BaseCloudEventException
    from cloudevents.core.formats.json import JSONFormat

    try:
        event = from_http(HTTPMessage(headers=dict(headers), body=body), JSONFormat())
    except (BaseCloudEventException, ValueError, TypeError, KeyError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidPayload(
            "body", f"not a CloudEvent (binary or structured mode): {first}"
        ) from None
    attributes = {k: _plain(v) for k, v in event.get_attributes().items() if v is not None}
    return Delivery(
        {"body": _plain(event.get_data()), "headers": shown, "event": attributes},
        event_id=_name("id", str(event.get_id())),
        event_source=_name("source", str(event.get_source())),
    )


def _name(field: str, value: str) -> str:
    if not value:
        raise InvalidPayload(field, "required: it names the delivery (one run per delivery)")
    if len(value) > NAME_MAX_LENGTH or not _PRINTABLE.match(value):
        raise InvalidPayload(
            field, f"at most {NAME_MAX_LENGTH} printable ASCII characters, none at either end"
        )
    return value


def _plain(value: Any) -> Any:
    """A CloudEvent's value as JSON has it: times as RFC 3339 text, bytes as base64."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    return value
