"""``run --thread``: runs one after another on a local thread, each starting from the state the
last one ended with (an ``append`` field grows, a plain one is replaced by the new input)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import CLI

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: diary}
spec:
  state:
    topic: {type: string}
    log: {type: array, items: {type: string}, reducer: append}
    last: {type: string}
  input: [topic]
  output: [log, last]
  tools:
    - {name: record, function: "tests.counting_tools:record"}
  nodes:
    - {name: note, type: tool, tool: record, args: {label: "{{ topic }}"}, output: last}
    - {name: keep, type: tool, tool: record, args: {label: "kept {{ topic }}"}, output: log}
  edges:
    - {from: START, to: note}
    - {from: note, to: keep}
    - {from: keep, to: END}
"""


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_second_run_on_a_thread_sees_the_first_ones_state(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    spec = tmp_path / "diary.yaml"
    spec.write_text(WORKFLOW)
    first = run_cli(["run", str(spec), "-i", "topic=one", "--thread", "chat-1"], cli_env)
    assert first.returncode == 0, first.stderr
    assert "thread chat-1" in first.stderr
    assert json.loads(first.stdout) == {"log": ["kept one"], "last": "one"}
    second = run_cli(["run", str(spec), "-i", "topic=two", "--thread", "chat-1"], cli_env)
    assert second.returncode == 0, second.stderr
    # the thread's log grows by this run's entry; the plain field holds this run's value
    assert json.loads(second.stdout) == {"log": ["kept one", "kept two"], "last": "two"}
    alone = run_cli(["run", str(spec), "-i", "topic=three"], cli_env)  # no thread: from nothing
    assert json.loads(alone.stdout) == {"log": ["kept three"], "last": "three"}
    other = run_cli(["run", str(spec), "-i", "topic=four", "--thread", "chat-2"], cli_env)
    assert json.loads(other.stdout) == {"log": ["kept four"], "last": "four"}


def test_thread_and_resume_go_not_together(cli_env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "diary.yaml"
    spec.write_text(WORKFLOW)
    done = run_cli(["run", str(spec), "--thread", "t", "--resume", "run-1"], cli_env)
    assert done.returncode == 2
    assert "--thread" in done.stderr and "Traceback" not in done.stderr
