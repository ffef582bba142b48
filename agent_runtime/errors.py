"""The root of the errors this package raises on purpose, each with a stable code.

Every boundary reads the same two attributes instead of a table of classes: the Runs API answers
``{"error": {"code", "message", "details"}}``, the CLI prints one line per problem and picks its
exit status, and the operator tells kopf to retry (``TemporaryError``) or not (``PermanentError``).
Codes are snake_case and never change meaning; clients may branch on them.
"""

from __future__ import annotations

from typing import Any


class AgentRuntimeError(Exception):
    """A failure with a stable ``code`` and a message safe to show (no credentials, no trace)."""

    #: Stable, snake_case; subclasses (or instances) say which.
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
