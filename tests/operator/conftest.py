"""The operator fixture lives in tests/operator_harness.py, shared with the gateway's cluster tests."""

import pytest

from tests.operator_harness import OperatorProcess, eventually

__all__ = ["OperatorProcess", "eventually", "restart_with"]


def restart_with(operator: OperatorProcess, prefix: str, settings: dict[str, str]) -> None:
    """Restart the session's operator with these variables set (it reads them when it starts);
    with none, as the session started it."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in settings.items():
            env.setenv(prefix + name, value)
        operator.restart()
