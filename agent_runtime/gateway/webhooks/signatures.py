"""Checking a delivery's signature: Standard Webhooks' or GitHub's, with any of the keys.

Every comparison takes constant time (``hmac.compare_digest``). A request is told only that its
signature does not verify, whatever the reason (no header, a malformed one, the wrong key, no
such trigger), so nothing about a trigger is learnt without its key; what comes after the
signature (the timestamp's age) is said to whoever signed with the right key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.spec.webhook import Webhook

#: Standard Webhooks' headers.
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
#: GitHub's.
GITHUB_SIGNATURE_HEADER = "x-hub-signature-256"
#: The one answer to a request whose signature does not verify.
UNVERIFIED = (
    "the request's signature does not verify with the trigger's keys "
    "(or there is no webhook trigger {namespace}/{name})"
)
#: Headers a signature is in, never shown to a Workflow.
SIGNATURE_HEADERS = frozenset({SIGNATURE_HEADER, GITHUB_SIGNATURE_HEADER})


class SignatureInvalid(AgentRuntimeError):
    """401: not signed with one of the trigger's keys, or (``field`` set) signed too long ago."""

    code = "signature_invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        if field is not None:
            self.details = [{"field": field, "message": message.partition(": ")[2]}]


def unverified(namespace: str, name: str) -> SignatureInvalid:
    return SignatureInvalid(UNVERIFIED.format(namespace=namespace, name=name))


def verify(
    webhook: Webhook,
    keys: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    namespace: str,
    name: str,
) -> None:
    """Return when the request is signed with one of ``keys`` (and, for ``standard``, within
    the tolerance of ``now``, in seconds since the epoch); else raise SignatureInvalid.
    ``headers``: lowercase names."""
    if webhook.signature == "github":
        if not _github(keys, headers.get(GITHUB_SIGNATURE_HEADER, ""), body):
            raise unverified(namespace, name)
        return
    delivery, stamp = headers.get(ID_HEADER, ""), headers.get(TIMESTAMP_HEADER, "")
    if not (delivery and stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise unverified(namespace, name)
    signed = f"{delivery}.{stamp}.".encode() + body
    if not _standard(keys, headers.get(SIGNATURE_HEADER, ""), signed):
        raise unverified(namespace, name)
    age = now - int(stamp)
    if abs(age) > webhook.window:
        when = "old" if age > 0 else "far in the future"
        raise SignatureInvalid(
            f"{TIMESTAMP_HEADER}: {stamp} is {abs(round(age))}s {when} by the gateway's clock; "
            f"the trigger's tolerance is {round(webhook.window)}s (sign each delivery when it "
            "is sent, and keep the sender's clock right)",
            field=TIMESTAMP_HEADER,
        )


def sign_standard(key: bytes, delivery: str, timestamp: int, body: bytes) -> str:
    """A Standard Webhooks ``webhook-signature`` value (for tests and the README's senders)."""
    digest = hmac.new(key, f"{delivery}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _standard(keys: Sequence[bytes], header: str, signed: bytes) -> bool:
    """Whether any ``v1,<base64>`` of the space-separated list is the HMAC by any key."""
    given = []
    for part in header.split(" ")[:8]:  # a sender signs with a few keys at most
        version, _, value = part.partition(",")
        if version != "v1":
            continue
        try:
            given.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    found = False
    for key in keys:
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        for signature in given:
            found |= hmac.compare_digest(expected, signature)
    return found


def _github(keys: Sequence[bytes], header: str, body: bytes) -> bool:
    """Whether ``sha256=<hex>`` is the HMAC of the body by any key."""
    given = header.strip().lower().encode("ascii", "replace")
    found = False
    for key in keys:
        expected = b"sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest().encode()
        found |= hmac.compare_digest(expected, given)
    return found
