"""The layers written down in pyproject.toml hold (import-linter), and say what the design says."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from tests.conftest import REPO


def test_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    done = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return found


def forbidding(source: str) -> list[dict[str, Any]]:
    return [c for c in contracts() if c["type"] == "forbidden" and source in c["source_modules"]]


def test_the_operator_may_not_import_the_gateway_agent_or_dashboard() -> None:
    (contract,) = forbidding("agents_operator")
    assert not contract.get("allow_indirect_imports")
    assert {
        "agent_runtime.gateway",
        "agent_runtime.agent",
        "agent_runtime.ui",
        "agent_runtime.engine",
        "agent_runtime.stores",
    } <= set(contract["forbidden_modules"])


def test_compiling_a_workflow_touches_no_storage() -> None:
    (spec,) = forbidding("agent_runtime.spec")
    assert spec["forbidden_modules"] == ["agent_runtime.stores"]
    assert not spec.get("allow_indirect_imports")
    (compiler,) = forbidding("agent_runtime.engine.compiler")
    assert compiler["forbidden_modules"] == ["agent_runtime.stores"]


def test_the_cli_imports_the_operator_through_its_entry_point_only() -> None:
    (contract,) = forbidding("agent_runtime.cli")
    assert contract["forbidden_modules"] == ["agents_operator"]
    assert contract["ignore_imports"] == [
        "agent_runtime.cli.server_commands -> agents_operator.main"
    ]


def test_the_error_root_is_the_bottom_layer_under_telemetry() -> None:
    (layers,) = [c for c in contracts() if c["name"] == "agent_runtime layers"]
    assert layers["layers"][0] == "agent_runtime.cli"
    # statuses (the run and step enums) sit beside the error root: both import nothing of ours
    assert layers["layers"][-2:] == [
        "agent_runtime.telemetry",
        "agent_runtime.errors | agent_runtime.statuses",
    ]


def test_the_operator_runs_without_the_workflow_engine() -> None:
    """Its image (requirements/operator.in) has no LangGraph, LLM clients, store drivers or
    ``kubernetes`` client (kopf logs in through agents_operator/login.py)."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("langgraph", "langchain_core", "aiosqlite", "openai", "anthropic",
                                  "psycopg", "boto3", "botocore", "fastapi", "mcp", "kubernetes",
                                  "grpc", "pandas", "numpy", "pip", "setuptools"):
            raise ImportError("not in the operator image: " + name)
sys.meta_path.insert(0, Block())
import agent_runtime.cli.main, agents_operator.handlers, agents_operator.main, agents_operator.login
import kopf
from kopf._core.intents.causes import Activity
# kopf's login: ours (agents_operator/login.py), never its fallbacks
logins = kopf.get_default_registry()._activities.get_handlers(activity=Activity.AUTHENTICATION)
assert [handler.fn.__module__ for handler in logins] == ["agents_operator.login"], logins
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
