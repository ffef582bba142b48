"""The root of the errors this package raises on purpose, each with a stable code.

Every boundary reads the same two attributes instead of a table of classes: the Runs API answers
``{"error": {"code", "message", "details"}}`` with the status ``HTTP_STATUS`` gives the code, the
CLI prints one line per problem and picks its exit status from that status, and the operator
tells kopf to retry (``TemporaryError``) or not (``PermanentError``). Codes are snake_case and
never change meaning; clients may branch on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class AgentRuntimeError(Exception):
    """A failure with a stable ``code`` and a message safe to show (no credentials, no trace)."""

    #: Stable, snake_case; subclasses (or instances) say which; one of ``HTTP_STATUS``.
    code: str = "error"
    #: Whether the same request may succeed later unchanged (a store or an API server away).
    retryable: bool = False
    #: What a client can act on (the fields at fault, say); None when the message says it all.
    details: Any = None

    def lines(self) -> list[str]:
        """One line per problem, for a terminal."""
        return [str(self)]

    def as_dict(self) -> dict[str, Any]:
        """The body of an API error: ``code``, ``message`` and, when there are some, ``details``."""
        out: dict[str, Any] = {"code": self.code, "message": str(self)}
        if self.details is not None:
            out["details"] = self.details
        return out


def _codes(status: int, *codes: str) -> dict[str, int]:
    return dict.fromkeys(codes, status)


#: Every stable code and the HTTP status it is answered with: 4xx the caller's doing (422 names
#: the fields at fault), 5xx the server's or what it depends on. The gateway, the agent and the
#: dashboard answer by it, and the CLI exits by it. ``http_error`` is not here: it carries the
#: status of the answer it stands for.
HTTP_STATUS: Mapping[str, int] = MappingProxyType(
    {
        **_codes(400, "invalid_cursor", "invalid_payload", "mapping_failed"),
        **_codes(401, "unauthenticated", "signature_invalid"),
        **_codes(
            403,
            "forbidden",
            "cross_origin",
            "csrf_rejected",
            "external_members_disabled",
            "registration_refused",
        ),
        **_codes(
            404,
            "not_found",
            "run_not_found",
            "thread_not_found",
            "workflow_not_found",
            "model_not_found",
            "pool_not_found",
            "member_not_found",
            "lease_not_found",
        ),
        **_codes(405, "method_not_allowed"),
        **_codes(
            409,
            "conflict",
            "not_interrupted",
            "interrupted",
            "leased",
            "idempotency_conflict",
            "workflow_not_ready",
            "capability_not_served",
            "trigger_suspended",
            "no_external_agents",
            "member_taken",
            "member_not_pulling",
            "pool_full",
            "lease_settled",
        ),
        **_codes(
            422,
            "invalid_request",
            "invalid_input",
            "invalid_spec",
            "invalid_template",
            "invalid_policy",
            "invalid_prices",
            "invalid_settings",
            "task_permanent",
        ),
        **_codes(413, "payload_too_large"),
        **_codes(429, "busy", "rate_limited", "namespace_busy"),
        # the server's own failures, and the codes a failed run records (never an answer)
        **_codes(
            500,
            "error",
            "internal",
            "command_failed",
            "auth_error",
            "agent_error",
            "provider_error",
            "tool_error",
            "run_failed",
            "node_failed",
            "cancelled",
            "outcome_unknown",
            "unknown_outcome",
            "denied",
            "no_branch",
            "max_steps",
            "timeout",
            "lease_lost",
            "namespace_budget",
        ),
        **_codes(502, "gateway_unreachable", "invalid_event", "kube_api_error"),
        **_codes(
            503,
            "store_unavailable",
            "auth_unavailable",
            "draining",
            "task_failed",
            "task_not_started",
            "agent_lost",
            "no_agents",
            "waiting",
            "not_synced",
            "watch_failing",
            "webhook_keys_unavailable",
            "not_registered",
        ),
    }
)


def http_status(code: str) -> int:
    """The status ``code`` is answered with; 500 for a code the table does not know."""
    return HTTP_STATUS.get(code, 500)
