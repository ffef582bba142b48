"""The testing kit stays outside the runtime: written down for import-linter, which
tests/test_architecture.py runs."""

from __future__ import annotations

import subprocess
import sys

from tests.test_architecture import contracts


def test_nothing_in_the_runtime_imports_the_kit() -> None:
    (contract,) = [
        c for c in contracts() if c.get("forbidden_modules") == ["agent_runtime.testing"]
    ]
    assert contract["type"] == "forbidden"
    assert contract["source_modules"] == ["agent_runtime"]
    assert contract["ignore_imports"] == ["agent_runtime.testing.** -> agent_runtime.testing.**"]


def test_the_kit_needs_no_server() -> None:
    (contract,) = [
        c
        for c in contracts()
        if c["type"] == "forbidden" and c["source_modules"] == ["agent_runtime.testing"]
    ]
    assert {"agent_runtime.cli", "agent_runtime.gateway", "agent_runtime.agent"} <= set(
        contract["forbidden_modules"]
    )


def test_the_stand_in_servers_load_no_engine() -> None:
    """Only the runner needs the engine (and LangGraph): a test that imports the package or a
    stand-in server does not pay for them."""
    check = (
        "import sys, agent_runtime.testing, agent_runtime.testing.openai_server;"
        "heavy = sorted(m for m in ('langgraph', 'agent_runtime.engine') if m in sys.modules);"
        "import agent_runtime.testing.runner;"
        "print(heavy, 'langgraph' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "True"]
