"""A Trigger's webhook: who may fire it (a signature), which delivery it is, and the run's input.

A webhook sender cannot hold a Kubernetes token, so a signature is the request's authentication:
HMAC-SHA256 with a key both sides hold. Two schemes are taken, each as its senders send it:

- ``standard`` (Standard Webhooks, as Svix and the ``standardwebhooks`` libraries sign):
  ``webhook-signature: v1,<base64>``, the HMAC of ``"<webhook-id>.<webhook-timestamp>.<body>"``;
  the timestamp must be within ``tolerance`` of the gateway's clock, and the delivery id is
  signed too, so a captured request can be neither replayed late nor passed off as another
  delivery.
- ``github``: ``X-Hub-Signature-256: sha256=<hex HMAC of the body>``, the delivery in
  ``X-GitHub-Delivery``. GitHub signs no timestamp: a redelivery of the same delivery id is the
  same run, and nothing else guards against replay (TLS does).

Keys never live in the YAML: in a cluster they are read from a Secret in the Trigger's own
namespace (``keys.secretRef``: its name and up to two data keys, current and previous, both
accepted while a key is rotated); a gateway serving files (``serve --workflows``) reads them from
its environment (``keys.env``, variables named ``WEBHOOK_*``).

``format: cloudevents`` takes CloudEvents over HTTP (binary and structured modes, read with the
``cloudevents`` SDK) at the same endpoint with the same signatures: the event's ``source`` and
``id`` then name the delivery (the CloudEvents spec makes the pair unique), so a re-sent event is
the same run. It is a format of the webhook rather than a source of its own because everything
else (keys, signature, mapping, the route) is the same.

``input`` maps the request to the run's input: one CEL expression per input field, over ``body``
(the JSON payload, or the event's ``data``), ``headers`` (lowercase names) and, for CloudEvents,
``event`` (its attributes). ``when`` (CEL, optional) picks the deliveries that start a run; the
others are answered and ignored (GitHub's ``ping``, say). Both are checked when the Trigger is:
syntax, the names they read, and the fields against the Workflow's inputs where it is known.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from agent_runtime.spec.common import IDENTIFIER, Duration, SpecModel
from agent_runtime.spec.errors import SpecError
from agent_runtime.spec.expressions import referenced_fields

Scheme = Literal["standard", "github"]
Format = Literal["json", "cloudevents"]

#: What ``keys.env`` may name: ``WEBHOOK_`` then capitals, digits and underscores, so a
#: Trigger cannot make the gateway use its other credentials as a webhook key.
ENV_PATTERN = r"^WEBHOOK_[A-Z0-9_]+$"
#: A Secret's name (an RFC 1123 subdomain) and a key of its data.
SECRET_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"
#: An HTTP header name (RFC 9110 token).
HEADER_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
#: The delivery-id header of each scheme when ``deliveryHeader`` is not given.
DELIVERY_HEADERS: dict[Scheme, str] = {"standard": "webhook-id", "github": "X-GitHub-Delivery"}
#: How far a ``standard`` signature's timestamp may be from the gateway's clock by default.
DEFAULT_TOLERANCE = 300.0
#: The most a ``tolerance`` may be: a longer window is a longer replay window.
MAX_TOLERANCE = 3600.0
EXPRESSION_MAX_LENGTH = 1024


class SecretKeys(SpecModel):
    """A Secret in the Trigger's namespace and the keys of its data that hold webhook keys."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_NAME)]
    #: The current key first, then (while rotating) the previous one: both are accepted.
    keys: list[Annotated[str, Field(min_length=1, max_length=253, pattern=SECRET_KEY)]] = Field(
        default_factory=lambda: ["key"], min_length=1, max_length=2
    )

    @field_validator("keys")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each key may be listed once")
        return value


def _env_name(value: str) -> str:
    if not re.match(ENV_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a WEBHOOK_* variable: a webhook key comes only from an environment "
            "variable named WEBHOOK_ then capitals, digits or '_' (e.g. WEBHOOK_GITHUB_KEY)"
        )
    return value


EnvName = Annotated[
    str,
    AfterValidator(_env_name),
    WithJsonSchema({"type": "string", "pattern": ENV_PATTERN, "maxLength": 256}),
]


class WebhookKeys(SpecModel):
    """Where the signing keys are: a Secret (a cluster) or environment variables (files)."""

    secret_ref: SecretKeys | None = None
    #: The variables holding the current key and, while rotating, the previous one; a variable
    #: that is not set is skipped (unset the previous one to end a rotation).
    env: list[EnvName] | None = Field(default=None, min_length=1, max_length=2)

    @model_validator(mode="after")
    def _one_place(self) -> WebhookKeys:
        if (self.secret_ref is None) == (self.env is None):
            raise ValueError(
                "secretRef: give exactly one of secretRef (a Secret in the Trigger's namespace, "
                "in a cluster) or env (WEBHOOK_* variables of a gateway serving files)"
            )
        if self.env is not None and len(set(self.env)) != len(self.env):
            raise ValueError("env: each variable may be listed once")
        return self


def _header_name(value: str) -> str:
    if not re.match(HEADER_PATTERN, value):
        raise ValueError(f"{value!r} is not an HTTP header name")
    return value


Expression = Annotated[str, Field(min_length=1, max_length=EXPRESSION_MAX_LENGTH)]


class Webhook(SpecModel):
    #: How the sender signs: ``standard`` (Standard Webhooks) or ``github``.
    signature: Scheme = "standard"
    keys: WebhookKeys
    #: ``standard`` only: how far the signed timestamp may be from now (default 5m, at most 1h).
    tolerance: Duration | None = None
    #: The header naming the delivery (default: ``webhook-id``, or ``X-GitHub-Delivery``); a
    #: redelivery with the same id is the same run. Not for CloudEvents (their id is).
    delivery_header: (
        Annotated[
            str,
            AfterValidator(_header_name),
            WithJsonSchema({"type": "string", "pattern": HEADER_PATTERN, "maxLength": 256}),
        ]
        | None
    ) = None
    #: ``json`` (any JSON payload) or ``cloudevents`` (binary or structured mode).
    format: Format = "json"
    #: CEL over ``body``, ``headers`` (and ``event``): which deliveries start a run.
    when: Expression | None = None
    #: Input field -> CEL over ``body``, ``headers`` (and ``event``) giving its value.
    input: dict[str, Expression] = Field(default_factory=dict, max_length=256)

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, value: float | None) -> float | None:
        if value is not None and not 1 <= value <= MAX_TOLERANCE:
            raise ValueError(
                "must be between 1s and 1h (a longer window is a longer replay window)"
            )
        return value

    @model_validator(mode="after")
    def _fits(self) -> Webhook:
        if self.signature == "github" and self.tolerance is not None:
            raise ValueError(
                "tolerance: GitHub signs no timestamp; a tolerance applies to signature: standard"
            )
        if self.format == "cloudevents" and self.delivery_header is not None:
            raise ValueError(
                "deliveryHeader: a CloudEvent's source and id name its delivery; give no header"
            )
        names = self.variables
        for field, source in self.input.items():
            if not re.match(IDENTIFIER, field):
                raise ValueError(f"input.{field}: not a field name")
            if problem := expression_problem(source, names):
                raise ValueError(f"input.{field}: {problem}")
        if self.when is not None and (problem := expression_problem(self.when, names)):
            raise ValueError(f"when: {problem}")
        return self

    @property
    def variables(self) -> tuple[str, ...]:
        """The names its expressions may read."""
        return ("body", "headers", "event") if self.format == "cloudevents" else ("body", "headers")

    @property
    def delivery(self) -> str:
        """The header naming a delivery (for ``json``)."""
        return self.delivery_header or DELIVERY_HEADERS[self.signature]

    @property
    def window(self) -> float:
        """Seconds a ``standard`` signature's timestamp may be off."""
        return self.tolerance if self.tolerance is not None else DEFAULT_TOLERANCE


def expression_problem(source: str, names: tuple[str, ...]) -> str | None:
    """Why a mapping expression cannot work: it does not parse, or reads a name it is not given."""
    try:
        fields, others = referenced_fields(source)
    except SpecError as exc:
        return exc.problems[0].message
    unknown = sorted({n for n in others if n not in names} | ({"state"} if fields else set()))
    if unknown:
        return f"reads {', '.join(unknown)}; an expression reads only {', '.join(names)}"
    return None
