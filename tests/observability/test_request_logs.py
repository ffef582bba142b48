"""HTTP clients do not log one INFO line per request once logging is configured, unless the
level is DEBUG or CONFIGURABLE_AGENTS_LOG_LEVELS asks for them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from agent_runtime.telemetry.logs import LEVELS_ENV, LogLevelsError, configure_logging

NAMES = ("httpx", "httpx2")


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in (*NAMES, "kopf.objects")}
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


@pytest.mark.usefixtures("root_restored")
def test_at_debug_the_request_lines_are_written() -> None:
    configure_logging("info", "text", service="test", chatty=("kopf.objects",))
    configure_logging("debug", "text", service="test", chatty=("kopf.objects",))
    for name in (*NAMES, "kopf.objects"):
        assert logging.getLogger(name).isEnabledFor(logging.DEBUG), name


@pytest.mark.usefixtures("root_restored")
def test_the_levels_variable_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LEVELS_ENV, " httpx = INFO , kopf.objects=debug,")
    configure_logging("warning", "text", service="test", chatty=("kopf.objects",))
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpx").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("kopf.objects").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("httpx2").isEnabledFor(logging.INFO)  # still the default
    assert not logging.getLogger("agent_runtime").isEnabledFor(logging.INFO)


@pytest.mark.usefixtures("root_restored")
@pytest.mark.parametrize("value", ["httpx", "httpx=loud", "=info"])
def test_a_bad_levels_variable_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(LEVELS_ENV, value)
    handlers = logging.getLogger().handlers[:]
    with pytest.raises(LogLevelsError, match=f"^{LEVELS_ENV}: '{value}': expected") as caught:
        configure_logging("info", "text", service="test")
    assert caught.value.code == "invalid_settings"
    assert logging.getLogger().handlers == handlers  # nothing was configured
