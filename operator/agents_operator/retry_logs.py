"""kopf's retried API requests logged as warnings, not errors.

kopf logs every failed attempt of a Kubernetes API request at error level, also those it retries:
a 429 "storage is (re)initializing" from an API server that has just created a CRD's storage, or
restarts, comes out as errors although nothing failed. An attempt kopf will retry is a warning;
the last attempt, which kopf gives up on ("escalating"), stays an error.
"""

from __future__ import annotations

import logging

#: How kopf words a failed attempt it retries (kopf/_cogs/clients/api.py).
_RETRIED = "; will retry: "


class RetriesAsWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.name.startswith("kopf"):
            message = str(record.msg)
            if message.startswith("Request attempt") and _RETRIED in message:
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def log_retries_as_warnings() -> None:
    """On every handler of the root logger (call after logging is configured)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RetriesAsWarnings())
