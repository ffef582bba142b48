"""Triggers fired over HTTP: a webhook's keys, its signature, its payload and the run's input.

The route (``gateway.routes.webhooks``) authenticates a delivery by its signature alone, since a
webhook sender holds no Kubernetes token, and starts the run as the Trigger through the one
start path (``launch.start_run``).
"""

from agent_runtime.gateway.webhooks.keys import KeysUnavailable, WebhookKeySource, key_source
from agent_runtime.gateway.webhooks.mapping import MappingFailed, mapped_input, wanted
from agent_runtime.gateway.webhooks.payload import Delivery, InvalidPayload, read_delivery
from agent_runtime.gateway.webhooks.signatures import SignatureInvalid, verify

__all__ = [
    "Delivery",
    "InvalidPayload",
    "KeysUnavailable",
    "MappingFailed",
    "SignatureInvalid",
    "WebhookKeySource",
    "key_source",
    "mapped_input",
    "read_delivery",
    "verify",
    "wanted",
]
