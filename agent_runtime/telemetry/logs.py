"""Log lines of servers: one JSON object a line, with the current trace, span, run and node.

``trace_id`` and ``span_id`` come from the current OpenTelemetry span (when one records), and
``run_id``, ``workflow`` and ``node`` from ``telemetry.context.bind`` or a call's ``extra``, so a
line can be joined to its trace and its run. A terminal gets plain text instead. Known secret
values are scrubbed from every line (``telemetry.secrets``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from opentelemetry import trace

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.telemetry.context import current_fields
from agent_runtime.telemetry.secrets import redact

#: Fields a log call may pass in ``extra``; each becomes a field of the JSON line.
#: Loggers that write one INFO line per HTTP request (httpx2: lightkube's and the LLM SDKs').
CHATTY = ("httpx", "httpx2")
#: Levels by logger name, over the defaults: ``httpx=info,kopf.objects=debug``.
LEVELS_ENV = "CONFIGURABLE_AGENTS_LOG_LEVELS"
EXTRA_FIELDS = ("run_id", "workflow", "node", "visit", "attempt", "pool", "trace_id", "span_id")

LogFormat = Literal["json", "text", "auto"]


def log_format(value: str) -> LogFormat:
    """``value`` as a log format; anything unknown is ``auto``."""
    value = value.strip().lower()
    return value if value in ("json", "text") else "auto"  # type: ignore[return-value]


class ContextFilter(logging.Filter):
    """Puts the current trace, span and run fields on every record (unless given in ``extra``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            fields.setdefault("trace_id", format(span.trace_id, "032x"))
            fields.setdefault("span_id", format(span.span_id, "016x"))
        for name, value in current_fields().items():
            fields.setdefault(name, value)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, **static: str) -> None:
        super().__init__()
        #: Fields of every line (``pool``, ``service``), when not empty.
        self.static = {k: v for k, v in static.items() if v}

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self.static,
        }
        for name in EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class LogLevelsError(AgentRuntimeError, ValueError):
    """``CONFIGURABLE_AGENTS_LOG_LEVELS`` does not parse; the message names the entry."""

    code = "invalid_settings"


def logger_levels(value: str) -> dict[str, int]:
    """``"httpx=info, kopf.objects=debug"`` as levels by logger name."""
    out: dict[str, int] = {}
    for entry in filter(None, (e.strip() for e in value.split(","))):
        name, _, level = (part.strip() for part in entry.partition("="))
        number = logging.getLevelNamesMapping().get(level.upper())
        if not name or number is None:
            raise LogLevelsError(
                f"{LEVELS_ENV}: {entry!r}: expected logger=level, the level one of debug, "
                "info, warning, error or critical"
            )
        out[name] = number
    return out


def configure_logging(
    level: str,
    fmt: LogFormat = "auto",
    *,
    service: str = "",
    pool: str = "",
    chatty: Sequence[str] = (),
) -> None:
    """For entry points only (gateway, agent, operator): the root logger writes to stderr, JSON
    unless ``fmt`` says text, every JSON line naming the ``service`` (and an agent's ``pool``).

    ``auto`` is text on a terminal and JSON otherwise (in a pod, under a supervisor). Above
    DEBUG, loggers that write a line per request (``CHATTY``, and ``chatty``) only write
    warnings; ``CONFIGURABLE_AGENTS_LOG_LEVELS`` (``httpx=info,...``) sets any logger's level
    over that.
    """
    levels = logger_levels(os.environ.get(LEVELS_ENV, ""))  # a typo fails before anything
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter(service=service, pool=pool) if fmt == "json" else TextFormatter()
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    quiet = logging.getLogger().getEffectiveLevel() > logging.DEBUG
    for name in (*CHATTY, *chatty):
        logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.NOTSET)
    for name, number in levels.items():
        logging.getLogger(name).setLevel(number)
