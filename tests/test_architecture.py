"""The layers written down in pyproject.toml hold (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_import_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    done = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_operator_runs_without_the_workflow_engine() -> None:
    """Its image (requirements/operator.in) has no LangGraph, LLM clients or store drivers."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("langgraph", "langchain_core", "aiosqlite", "openai", "anthropic",
                                  "psycopg", "boto3", "fastapi", "mcp"):
            raise ImportError("not in the operator image: " + name)
sys.meta_path.insert(0, Block())
import agent_runtime.cli.main, agents_operator.handlers, agents_operator.main
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
