"""The tools tests run under the local preset (any function, loopback allowed), as ``run`` does.

Tests of the policy itself pass their own policy, which wins over the environment.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def local_tool_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FILE", "ALLOWED_FUNCTIONS", "EGRESS_ALLOW", "ALLOW_LOOPBACK", "ALLOW_PRIVATE"):
        monkeypatch.delenv(f"CONFIGURABLE_AGENTS_POLICY_{name}", raising=False)
    monkeypatch.setenv("CONFIGURABLE_AGENTS_POLICY_PRESET", "local")
