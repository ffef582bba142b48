"""A module whose import is recorded: the policy tests assert a refused function never gets here."""

from __future__ import annotations

from tests.tools import canary_log

canary_log.IMPORTED.append(__name__)


def run() -> str:
    """Says it ran."""
    return "ran"
