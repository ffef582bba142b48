"""Logging of the agent process: one JSON object a line, with ``run_id`` and ``trace_id``."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

#: Context a log call may pass in ``extra``; each becomes a field of the JSON line.
CONTEXT_FIELDS = ("run_id", "trace_id", "node", "visit", "attempt", "pool")


class JsonFormatter(logging.Formatter):
    def __init__(self, pool: str = "") -> None:
        super().__init__()
        self.pool = pool

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.pool:
            line["pool"] = self.pool
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str, fmt: str, pool: str = "") -> None:
    """For entry points only: the root logger writes to stderr in ``fmt`` (json or text)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(pool))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
