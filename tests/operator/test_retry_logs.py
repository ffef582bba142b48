"""kopf's retried requests are warnings; the attempt it gives up on stays an error."""

from __future__ import annotations

import logging

from agents_operator.retry_logs import RetriesAsWarnings


def _record(name: str, message: str) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, None)
    RetriesAsWarnings().filter(record)
    return record


def test_a_retried_429_is_a_warning() -> None:
    record = _record(
        "kopf._cogs.clients.watching",
        "Request attempt #1/9 failed; will retry: GET https://127.0.0.1/apis/x -> "
        "APITooManyRequestsError(429, 'storage is (re)initializing')",
    )
    assert (record.levelno, record.levelname) == (logging.WARNING, "WARNING")


def test_the_last_attempt_and_other_errors_stay_errors() -> None:
    escalated = _record("kopf.objects", "Request attempt #9/9 failed; escalating: GET x -> 500")
    ours = _record("agents_operator.handlers", "Request attempt failed; will retry: ours")
    assert escalated.levelno == ours.levelno == logging.ERROR
