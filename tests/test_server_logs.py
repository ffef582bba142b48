"""The check behind Strimzi's rule (tests/processes.py ServerLogs): error lines are found in JSON
and text logs, once each, and the ones a test expects are let through."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.processes import ServerLogs


def _line(level: str, message: str, **fields: str) -> str:
    return json.dumps({"level": level, "logger": "kopf.objects", "message": message, **fields})


def test_error_lines_are_reported_once_and_expected_ones_let_through(tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    logs = ServerLogs()
    logs.watch(log, "operator")
    lines = [
        _line("info", "started"),
        _line("warning", "Request attempt #1/9 failed; will retry"),
        _line("error", "handler failed", exception="Traceback ...\nValueError: boom"),
        _line("error", "the pool is invalid on purpose"),
        "Traceback (most recent call last):",
        "2026-01-01 00:00:00 CRITICAL agent_runtime: out of memory",
    ]
    log.write_text("\n".join(lines) + "\n" + _line("error", "half a line"))
    found = logs.unexpected([re.compile("invalid on purpose")])
    assert found == [
        "operator (operator.log): [kopf.objects] handler failed (ValueError: boom)",
        "operator (operator.log): Traceback (most recent call last):",
        "operator (operator.log): 2026-01-01 00:00:00 CRITICAL agent_runtime: out of memory",
    ]
    assert logs.unexpected([]) == []  # read once; the unfinished line waits for its end
    with log.open("a") as f:
        f.write("\n")
    assert logs.unexpected([]) == ["operator (operator.log): [kopf.objects] half a line"]


def test_a_log_watched_after_it_has_lines_is_read_from_its_end(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(_line("error", "before") + "\n")
    logs = ServerLogs()
    logs.watch(log, "gateway")
    with log.open("a") as f:
        f.write(_line("error", "after") + "\n")
    assert logs.unexpected([]) == ["gateway (gateway.log): [kopf.objects] after"]
