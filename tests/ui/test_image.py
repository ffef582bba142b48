"""The UI image (requirements/ui.in) holds no workflow engine: the UI must run without it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

BLOCKED = (
    "langgraph",
    "langchain_core",
    "aiosqlite",
    "openai",
    "anthropic",
    "psycopg",
    "boto3",
    "kopf",
    "kubernetes",
    "mcp",
    "sse_starlette",
    # The gateway's authentication caches (agent_runtime.auth); the dashboard never imports it.
    "cachetools",
    # Only the UI's own sign-in needs them (not in requirements/ui.in yet): pass-through works.
    "authlib",
    "itsdangerous",
)


def test_the_ui_runs_without_the_workflow_engine() -> None:
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError("not in the UI image: " + name)
sys.meta_path.insert(0, Block())
import agent_runtime.cli.main
from agent_runtime.ui import create_ui_app
from agent_runtime.ui.chat import _gradio_app
create_ui_app("http://127.0.0.1:8080")
import agent_runtime.ui.signin_settings, agent_runtime.policy.tokens
_gradio_app("http://127.0.0.1:8080", "/chat")
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_the_ui_lock_pins_what_the_ui_needs() -> None:
    lock = (REPO / "requirements" / "ui.lock").read_text()
    for package in ("fastapi==", "uvicorn==", "gradio==", "httpx==", "httpx-sse==", "jinja2=="):
        assert package in lock, package
    for package in ("langgraph", "psycopg", "boto3", "openai=="):
        assert f"\n{package}" not in lock, package
    assert "--hash=sha256:" in lock


def test_the_ui_image_is_slim_pinned_and_not_root() -> None:
    dockerfile = (REPO / "Dockerfile.ui").read_text()
    assert dockerfile.count("\nFROM ") == 2  # build stage, then a clean runtime stage
    assert "COPY requirements/ui.lock" in dockerfile
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "USER 10001:10001" in dockerfile
    # The command line the Helm chart runs (ui.enabled, ui.mode).
    assert (
        'CMD ["ui", "--gateway", "http://127.0.0.1:8080", "--host", "0.0.0.0", "--port", "8081"]'
        in dockerfile
    )
