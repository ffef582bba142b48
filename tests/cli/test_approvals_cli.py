"""Gated tool calls from the command line: `run` stops with exit 3 and says how to decide;
`runs approve` and `runs deny` record the decision and go on; mistakes are one line each."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_human import run_cli
from tests.cli.test_human import start as start_human
from tests.gated_workflows import PAY_TWO


@pytest.fixture
def gated(tmp_path: Path) -> Path:
    path = tmp_path / "pay.yaml"
    path.write_text(PAY_TWO)
    return path


def counts(env: dict[str, str]) -> dict[str, int]:
    """How often each tool label ran, in the CLI processes' own counter folder."""
    folder = Path(env["COUNTER_DIR"])
    return {p.name: len(p.read_text().splitlines()) for p in folder.glob("*")}


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The whole stderr of a refused command: exit 2 and exactly one ``error:`` line."""
    no_traceback(done)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def show(env: dict[str, str], run_id: str) -> dict[str, Any]:
    done = run_cli(["runs", "show", run_id], env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def start(env: dict[str, str], workflow: Path) -> str:
    done = run_cli(["run", str(workflow)], env)
    no_traceback(done)
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert "waits for an approval at node 'pay' (request pay/0/1)" in done.stderr
    assert "‖ pay paused (approval)" in done.stderr
    assert 'call call_0: charge {"label": "charged"}' in done.stderr
    assert 'call call_1: refund {"label": "refunded"}' in done.stderr
    approve = re.search(
        r"approve with: configurable-agents runs approve (run-[0-9a-f]+) --request pay/0/1$",
        done.stderr,
        re.M,
    )
    deny = re.search(
        r"deny with: +configurable-agents runs deny (run-[0-9a-f]+) --reason", done.stderr
    )
    assert approve and deny and approve.group(1) == deny.group(1), done.stderr
    assert counts(env) == {}, "nothing of the gated round ran before a decision"
    return approve.group(1)


def test_run_stops_then_approve_goes_on_and_records_who(
    cli_env: dict[str, str], gated: Path
) -> None:
    run_id = start(cli_env, gated)
    waiting = show(cli_env, run_id)
    assert waiting["status"] == "interrupted" and waiting["interrupt"]["kind"] == "approval"

    done = run_cli(["runs", "approve", run_id, "--reason", "fine"], cli_env)
    no_traceback(done)
    assert done.returncode == 0, done.stderr
    assert f"run {run_id} (default/pay) approved; going on" in done.stderr
    assert "▸ pay (goes on)" in done.stderr and "attempt 2" not in done.stderr
    assert json.loads(done.stdout)["out"] == "refunded"  # the last tool result
    assert counts(cli_env) == {"charged": 1, "refunded": 1}
    run = show(cli_env, run_id)
    assert run["status"] == "succeeded"
    decided = [(a["callId"], a["tool"], a["approved"], a["comment"]) for a in run["approvals"]]
    assert decided == [("call_0", "charge", True, "fine"), ("call_1", "refund", True, "fine")]
    assert all(a["by"]["username"] for a in run["approvals"])

    again = one_line_error(run_cli(["runs", "approve", run_id], cli_env))
    assert "is succeeded, not interrupted" in again
    assert counts(cli_env) == {"charged": 1, "refunded": 1}


def test_deny_tells_the_model_and_runs_nothing(cli_env: dict[str, str], gated: Path) -> None:
    run_id = start(cli_env, gated)
    done = run_cli(["runs", "deny", run_id, "--reason", "not today"], cli_env)
    no_traceback(done)
    assert done.returncode == 0, done.stderr
    assert f"run {run_id} (default/pay) denied; going on" in done.stderr
    assert "a person denied this call of 'refund': not today" in json.loads(done.stdout)["out"]
    assert counts(cli_env) == {}
    run = show(cli_env, run_id)
    assert [(a["tool"], a["approved"]) for a in run["approvals"]] == [
        ("charge", False),
        ("refund", False),
    ]


def test_approve_one_call_denies_the_others(cli_env: dict[str, str], gated: Path) -> None:
    run_id = start(cli_env, gated)
    unknown = one_line_error(run_cli(["runs", "approve", run_id, "--call", "call_9"], cli_env))
    assert "calls.call_9: not a call this run waits for (waiting: call_0, call_1)" in unknown
    assert show(cli_env, run_id)["status"] == "interrupted"

    done = run_cli(
        ["runs", "approve", run_id, "--call", "call_0", "--reason", "charge only"], cli_env
    )
    no_traceback(done)
    assert done.returncode == 0, done.stderr
    assert counts(cli_env) == {"charged": 1}
    assert "a person denied this call of 'refund': charge only" in json.loads(done.stdout)["out"]
    run = show(cli_env, run_id)
    assert [(a["callId"], a["approved"]) for a in run["approvals"]] == [
        ("call_0", True),
        ("call_1", False),
    ]


def test_resume_is_not_an_approval_and_approve_is_not_an_answer(
    cli_env: dict[str, str], gated: Path
) -> None:
    run_id = start(cli_env, gated)
    resumed = one_line_error(run_cli(["runs", "resume", run_id], cli_env))
    assert f"run '{run_id}' waits for an approval at node 'pay'" in resumed
    assert "approve" in resumed.split(":", 2)[-1]
    assert show(cli_env, run_id)["status"] == "interrupted"
    assert counts(cli_env) == {}

    human = start_human(cli_env)
    for verb in ("approve", "deny"):
        refused = one_line_error(run_cli(["runs", verb, human], cli_env))
        assert f"run '{human}' waits for input at node 'review': resume it with input" in refused
    waiting = show(cli_env, human)
    assert waiting["status"] == "interrupted" and waiting["approvals"] == []
    assert waiting["interrupt"].get("kind", "input") == "input"


def test_unknown_run_is_one_line(cli_env: dict[str, str]) -> None:
    for verb in ("approve", "deny"):
        refused = one_line_error(run_cli(["runs", verb, "run-0000000000000000"], cli_env))
        assert "run 'run-0000000000000000' not found" in refused
