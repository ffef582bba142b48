"""A run killed with SIGKILL mid-node resumes from its last checkpoint without redoing work.

The slow node waits for a gate (a file) that the test opens: the run stays in the middle of that
node for as long as the test needs, never for a fixed time that a busy machine can outlast.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from string import Template

import pytest

from agent_runtime.stores import open_store
from tests.conftest import CLI
from tests.counting_tools import counts

WORKFLOW = Template("""
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
    - {name: gated_record, function: "tests.engine.gated_tools:gated_record"}
  nodes:
    - {name: first, type: tool, tool: record, args: {label: first}, output: trail}
    - {name: fast, type: tool, tool: record, args: {label: fast}, output: trail}
    - {name: slow, type: tool, tool: gated_record, args: {label: slow, gate: $gate}, output: trail}
    - {name: last, type: tool, tool: record, args: {label: last}, output: trail}
  edges:
    - {from: START, to: first}
    - {from: first, to: fast}
    - {from: first, to: slow}
    - {from: [fast, slow], to: last}
    - {from: last, to: END}
""")


def workflow_file(folder: Path) -> tuple[Path, Path]:
    """The workflow, written to ``folder``, and its slow node's gate (shut until created)."""
    gate, path = folder / "gate", folder / "crash.yaml"
    path.write_text(WORKFLOW.substitute(gate=json.dumps(str(gate))))
    return path, gate


def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def wait_for_checkpointed_write(store_url: str, channel: str, value: object) -> None:
    """Until the only run's checkpoint holds ``value`` as a pending write to ``channel``: what
    a finished parallel branch leaves, so that a crash from then on does not redo it."""

    async def poll() -> None:
        async with open_store(store_url) as store:
            deadline = time.monotonic() + 30
            while True:
                [run] = (await store.list_runs()).items
                saved = await store.checkpointer().aget_tuple(
                    {"configurable": {"thread_id": run.id}}
                )
                if saved and (channel, value) in [(c, v) for _, c, v in saved.pending_writes or []]:
                    return
                assert time.monotonic() < deadline, f"no write {channel}={value!r} checkpointed"
                await asyncio.sleep(0.02)

    asyncio.run(poll())


@pytest.mark.slow
def test_sigkill_mid_node_then_resume(
    tmp_path: Path, cli_env: dict[str, str], store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On every store backend (``store_url`` is parametrized over them)."""
    cli_env = {**cli_env, "CONFIGURABLE_AGENTS_STORE": store_url}
    monkeypatch.setenv("COUNTER_DIR", cli_env["COUNTER_DIR"])
    path, gate = workflow_file(tmp_path)
    proc = subprocess.Popen(
        [*CLI, "run", str(path), "-i", "topic=x"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The slow node has started (and holds: its gate is shut) and its parallel sibling's
        # write has reached the checkpoint: kill mid-node.
        wait_for(lambda: counts().get("slow") == 1 and counts().get("fast") == 1)
        wait_for_checkpointed_write(store_url, "trail", ["fast"])
        assert proc.poll() is None, proc.communicate()
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

    gate.touch()  # the slow node, run again, goes through
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
    tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's process holds it in the slow node until the resume has been refused."""
    monkeypatch.setenv("COUNTER_DIR", cli_env["COUNTER_DIR"])
    path, gate = workflow_file(tmp_path)
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
        [run] = json.loads(listed.stdout)["items"]
        assert run["status"] == "running"
        try:
            done = subprocess.run(
                [*CLI, "runs", "resume", run["id"]],
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            # A resume that went on with the run waits at the shut gate too.
            pytest.fail(f"runs resume did not return: it took the held run over? {counts()}")
        assert done.returncode == 2, done.stderr
        assert "is being executed by" in done.stderr
        assert proc.poll() is None  # still in the slow node: refused while the lease was held
        gate.touch()
        assert proc.wait(timeout=60) == 0, proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert counts() == {"first": 1, "fast": 1, "slow": 1, "last": 1}
