"""Telemetry shared by every process (gateway, agent, CLI, operator): traces, metrics, logs.

It imports nothing of ours but the error root (``agent_runtime.errors``), so the operator may use
it. Tracing is configured only by the standard ``OTEL_*`` variables and costs next to nothing when
none is set; every metric family lives in ``metrics`` (created per registry by the entry points,
never at import); ``configure_logging`` (entry points only) writes JSON lines carrying the current
trace and run.
"""

from agent_runtime.telemetry.context import bind, current_fields
from agent_runtime.telemetry.logs import JsonFormatter, configure_logging
from agent_runtime.telemetry.secrets import redact
from agent_runtime.telemetry.tracing import setup_tracing, tracer

__all__ = [
    "JsonFormatter",
    "bind",
    "configure_logging",
    "current_fields",
    "redact",
    "setup_tracing",
    "tracer",
]
