"""A run killed with SIGKILL mid-node resumes from its last checkpoint without redoing work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLI
from tests.counting_tools import counts

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: crash-test}
spec:
  state:
    topic: {type: string}
    trail: {type: array, items: {type: string}, reducer: append}
  input: [topic]
  output: [trail]
  tools:
    - {name: record, function: "tests.counting_tools:record"}
    - {name: slow_record, function: "tests.counting_tools:slow_record"}
  nodes:
    - {name: first, type: tool, tool: record, args: {label: first}, output: trail}
    - {name: fast, type: tool, tool: record, args: {label: fast}, output: trail}
    - {name: slow, type: tool, tool: slow_record, args: {label: slow, seconds: 2}, output: trail}
    - {name: last, type: tool, tool: record, args: {label: last}, output: trail}
  edges:
    - {from: START, to: first}
    - {from: first, to: fast}
    - {from: first, to: slow}
    - {from: [fast, slow], to: last}
    - {from: last, to: END}
"""


def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_mid_node_then_resume(
    tmp_path: Path, cli_env: dict[str, str], store_url: str
) -> None:
    """On every store backend (``store_url`` is parametrized over them)."""
    cli_env = {**cli_env, "CONFIGURABLE_AGENTS_STORE": store_url}
    os.environ["COUNTER_DIR"] = cli_env["COUNTER_DIR"]
    path = tmp_path / "crash.yaml"
    path.write_text(WORKFLOW)
    proc = subprocess.Popen(
        [*CLI, "run", str(path), "-i", "topic=x"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The slow node has started and its parallel sibling has finished: kill mid-node.
        wait_for(lambda: counts().get("slow") == 1 and counts().get("fast") == 1)
        time.sleep(0.3)  # let the sibling's write reach the checkpoint
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert counts() == {"first": 1, "fast": 1, "slow": 1}

    listed = subprocess.run(
        [*CLI, "runs", "list", "--json"], env=cli_env, capture_output=True, text=True, check=True
    )
    [run] = json.loads(listed.stdout)["items"]
    assert run["status"] == "running"  # its owner died holding the lease

    done = subprocess.run(
        [*CLI, "run", str(path), "--resume", run["id"]],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(done.stdout)["trail"]) == ["fast", "first", "last", "slow"]
    # Completed nodes ran once; only the node killed in the middle ran again.
    assert counts() == {"first": 1, "fast": 1, "slow": 2, "last": 1}


@pytest.mark.slow
def test_resume_of_a_run_held_by_a_live_process_is_refused(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    os.environ["COUNTER_DIR"] = cli_env["COUNTER_DIR"]
    path = tmp_path / "crash.yaml"
    path.write_text(WORKFLOW.replace("seconds: 2", "seconds: 4"))
    proc = subprocess.Popen(
        [*CLI, "run", str(path), "-i", "topic=x"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: counts().get("slow") == 1)
        listed = subprocess.run(
            [*CLI, "runs", "list", "--json"],
            env=cli_env,
            capture_output=True,
            text=True,
            check=True,
        )
        run_id = json.loads(listed.stdout)["items"][0]["id"]
        done = subprocess.run(
            [*CLI, "runs", "resume", run_id],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert "is being executed by" in done.stderr
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert counts()["slow"] == 1
