"""HTTP clients do not log one INFO line per request once logging is configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from agent_runtime.telemetry.logs import configure_logging


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpx2")}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in quiet.items():
            logging.getLogger(name).setLevel(was)


@pytest.mark.usefixtures("root_restored")
def test_httpx_and_httpx2_request_lines_are_left_out_at_info() -> None:
    configure_logging("info", "text", service="test")
    assert logging.getLogger("agent_runtime").isEnabledFor(logging.INFO)
    for name in ("httpx", "httpx2"):  # lightkube's requests go through httpx2
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert logging.getLogger(name).isEnabledFor(logging.WARNING), name
