"""Logging of the agent process: JSON lines with ``run_id``, ``trace_id`` and the pool's name.

The formatter and the context it reads are ``agent_runtime.telemetry.logs``, shared by every
server; this module only fixes the agent's own fields.
"""

from __future__ import annotations

from agent_runtime.telemetry.logs import LogFormat
from agent_runtime.telemetry.logs import configure_logging as _configure


def configure_logging(level: str, fmt: LogFormat, pool: str = "") -> None:
    """For entry points only: the root logger writes to stderr in ``fmt`` (json or text)."""
    _configure(level, fmt, service="agent", pool=pool)
