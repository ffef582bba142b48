"""A human node stops the run `interrupted`; resuming with input picks the branch."""

from __future__ import annotations

import json
import re
import subprocess

from tests.conftest import CLI, EXAMPLES

HUMAN = EXAMPLES / "04-human-approval" / "workflow.yaml"


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def start(env: dict[str, str]) -> str:
    done = run_cli(["run", str(HUMAN), "-i", "topic=leases"], env)
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert "waits at human node 'review'" in done.stderr
    match = re.search(r"runs resume (run-[0-9a-f]+)", done.stderr)
    assert match
    return match.group(1)


def status(env: dict[str, str], run_id: str) -> dict:  # type: ignore[type-arg]
    return json.loads(run_cli(["runs", "show", run_id], env).stdout)


def test_reject_then_approve(cli_env: dict[str, str]) -> None:
    run_id = start(cli_env)
    shown = status(cli_env, run_id)
    assert shown["status"] == "interrupted"
    assert shown["interrupt"]["node"] == "review"
    assert set(shown["interrupt"]["fields"]) == {"approved", "feedback"}

    rejected = run_cli(
        ["runs", "resume", run_id, "-i", "approved=false", "-i", "feedback=shorter"], cli_env
    )
    assert rejected.returncode == 3, rejected.stderr
    assert "▸ draft" in rejected.stderr and "publish" not in rejected.stderr

    approved = run_cli(
        ["runs", "resume", run_id, "-i", "approved=yes", "-i", "feedback=ok"], cli_env
    )
    assert approved.returncode == 0, approved.stderr
    output = json.loads(approved.stdout)
    assert output["approved"] is True
    assert output["published"] == "PUBLISHED: Leases: a dead owner's runs pass to a live gateway."
    steps = status(cli_env, run_id)["steps"]
    assert [s["node"] for s in steps] == ["draft", "review", "draft", "review", "publish"]
    assert all(s["status"] == "succeeded" for s in steps)


def test_approve_at_once_takes_the_other_branch(cli_env: dict[str, str]) -> None:
    run_id = start(cli_env)
    done = run_cli(
        [
            "run",
            str(HUMAN),
            "--resume",
            run_id,
            "--input-json",
            '{"approved": true, "feedback": ""}',
        ],
        cli_env,
    )
    assert done.returncode == 0, done.stderr
    assert (
        json.loads(done.stdout)["draft"]
        == "Leases let another gateway take over a run whose owner died."
    )


def test_bad_resume_input_keeps_the_run_interrupted(cli_env: dict[str, str]) -> None:
    run_id = start(cli_env)
    for args, expected in [
        (
            ["-i", "approved=perhaps", "-i", "feedback=x"],
            "--input approved: expected boolean, got 'perhaps'",
        ),
        (["-i", "feedback=x"], "input.approved: required"),
        (
            ["-i", "approved=true", "-i", "feedback=x", "-i", "extra=1"],
            "input.extra: not asked for",
        ),
    ]:
        done = run_cli(["runs", "resume", run_id, *args], cli_env)
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr
        assert status(cli_env, run_id)["status"] == "interrupted"


def test_cancel_an_interrupted_run(cli_env: dict[str, str]) -> None:
    run_id = start(cli_env)
    assert run_cli(["runs", "cancel", run_id], cli_env).returncode == 0
    assert status(cli_env, run_id)["status"] == "cancelled"
    again = run_cli(["runs", "cancel", run_id], cli_env)
    assert again.returncode == 2
    assert "cannot be cancelled" in again.stderr
    resumed = run_cli(
        ["runs", "resume", run_id, "-i", "approved=true", "-i", "feedback=x"], cli_env
    )
    assert resumed.returncode == 2
