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
                                  "grpc", "pandas", "numpy", "pip", "setuptools", "typer", "rich",
                                  "prompt_toolkit", "pygments", "wcwidth", "zstandard"):
            raise ImportError("not in the operator image: " + name)
sys.meta_path.insert(0, Block())
import agent_runtime.cli.main, agents_operator.handlers, agents_operator.main, agents_operator.login
import kopf
from kopf._core.intents.causes import Activity
# kopf's login: ours (agents_operator/login.py), never its fallbacks
logins = kopf.get_default_registry()._activities.get_handlers(activity=Activity.AUTHENTICATION)
assert [handler.fn.__module__ for handler in logins] == ["agents_operator.login"], logins
# the admission of Workflows compiles their CEL branch conditions, without cel's REPL
from agent_runtime.spec.expressions import evaluate
assert evaluate("state.n > 1 && size(state.items) == 2", {"n": 2, "items": [1, 2]})
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


#: Module names of what requirements/image.excludes leaves out of the agent and operator images.
IMAGE_EXCLUDED_MODULES = {
    "zstandard": "zstandard",
    "typer": "typer",
    "rich": "rich",
    "prompt-toolkit": "prompt_toolkit",
    "pygments": "pygments",
    "wcwidth": "wcwidth",
    "shellingham": "shellingham",
    "markdown-it-py": "markdown_it",
    "mdurl": "mdurl",
    "pyasn1": "pyasn1",
    "pyasn1-modules": "pyasn1_modules",
}


def image_excludes() -> list[str]:
    text = (REPO / "requirements" / "image.excludes").read_text()
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


def test_the_agent_image_runs_without_what_its_lock_leaves_out(tmp_path: Path) -> None:
    """requirements/image.excludes and hack/prune-venv.sh take packages out of the images: every
    module of agent_runtime imports without them, and a workflow with a CEL branch runs."""
    assert sorted(image_excludes()) == sorted(IMAGE_EXCLUDED_MODULES)
    blocked = {*IMAGE_EXCLUDED_MODULES.values(), "pip", "setuptools", "pkg_resources"}
    code = f"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {sorted(blocked)!r}:
            raise ImportError("not in the image: " + name)
sys.meta_path.insert(0, Block())
import agent_runtime
for module in pkgutil.walk_packages(agent_runtime.__path__, "agent_runtime."):
    # the chat page's Blocks import Gradio, which only the UI image has
    if not module.name.endswith("__main__") and module.name != "agent_runtime.ui.chat_page":
        importlib.import_module(module.name)
import langsmith._internal._background_thread, openai, anthropic, google.genai, boto3, psycopg
import google.auth.crypt, google.oauth2.service_account  # Vertex AI's service-account keys
from agent_runtime.cli.main import main
sys.argv = ["configurable-agents", "run", "examples/02-router-loop/workflow.yaml",
            "--store", "sqlite:///{tmp_path}/runs.db", "--input", "topic=images"]
main()
"""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith("{"), done.stdout


def test_the_images_install_their_whole_lock_and_prune_it() -> None:
    """The agent and operator locks leave packages out (requirements/image.excludes), so the
    images install them with --no-deps; every image deletes pip and the rest after its installs."""
    for name, lock in (("agent", "agent"), ("operator", "operator"), ("ui", "ui")):
        dockerfile = (REPO / f"Dockerfile.{name}").read_text()
        build = dockerfile.split("\nFROM ")[1]  # the build stage
        assert f"COPY requirements/{lock}.lock ./requirements.lock" in build
        # the agent image ships third-party code as bytecode only (tests/test_image_env.py)
        flags = "--sourceless " if name == "agent" else ""
        assert build.rstrip().endswith(f"RUN sh prune-venv.sh {flags}/opt/venv"), name
        if name != "ui":
            assert "pip install --no-deps --require-hashes -r requirements.lock" in build
        text = (REPO / "requirements" / f"{lock}.lock").read_text()
        for excluded in image_excludes() if name != "ui" else ():
            assert f"\n{excluded}==" not in text, (lock, excluded)
    makefile = (REPO / "Makefile").read_text()
    assert makefile.count("--excludes requirements/image.excludes") == 2
