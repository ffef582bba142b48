"""``run --thread``: runs one after another on a local thread, each starting from the state the
last one ended with (an ``append`` field grows)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import CLI
from tests.gateway.test_threads_api import WORKFLOW


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_a_second_run_on_a_thread_sees_the_first_ones_state(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    spec = tmp_path / "diary.yaml"
    spec.write_text(WORKFLOW)

    def say(topic: str, *thread: str) -> subprocess.CompletedProcess[str]:
        return run_cli(
            ["run", str(spec), "-i", f"topic={topic}", "-i", "pause=0", *thread], cli_env
        )

    first = say("one", "--thread", "chat-1")
    assert first.returncode == 0, first.stderr
    assert "thread chat-1" in first.stderr
    assert json.loads(first.stdout) == {"log": ["one"]}
    second = say("two", "--thread", "chat-1")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"log": ["one", "two"]}  # grown by this run's entry
    assert json.loads(say("three").stdout) == {"log": ["three"]}  # no thread: from nothing
    assert json.loads(say("four", "--thread", "chat-2").stdout) == {"log": ["four"]}
    assert json.loads(say("five", "--thread", "chat-1").stdout) == {"log": ["one", "two", "five"]}


def test_thread_and_resume_go_not_together(cli_env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "diary.yaml"
    spec.write_text(WORKFLOW)
    done = run_cli(["run", str(spec), "--thread", "t", "--resume", "run-1"], cli_env)
    assert done.returncode == 2
    assert "--thread" in done.stderr and "Traceback" not in done.stderr
