"""What ``run``, ``run --resume`` and ``runs resume`` share: execute, report, exit status."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from agent_runtime.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from agent_runtime.cli.policy import local_policy
from agent_runtime.cli.progress import Progress
from agent_runtime.engine import Engine, LocalDispatcher, RunError
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.executors import TaskExecutor
from agent_runtime.stores import Actor, RunRecord, RunStatus, open_store
from agent_runtime.stores.errors import ThreadConflict, ThreadNotFound
from agent_runtime.stores.records import ThreadRecord
from agent_runtime.telemetry import setup_tracing


async def with_engine(store_url: str | None, body: Callable[[Engine], Awaitable[Any]]) -> Any:
    """An engine with in-process agents over the chosen store, closed afterwards.

    Runs executed here are traced when ``OTEL_*`` variables ask for it (spans flushed at exit).
    """
    setup_tracing("configurable-agents-cli")
    dispatcher = LocalDispatcher(TaskExecutor(policy=local_policy()))
    try:
        async with open_store(store_url) as store:
            return await body(Engine(store, dispatcher))
    finally:
        await dispatcher.aclose()


def print_json(value: Any) -> None:
    indent = 2 if sys.stdout.isatty() else None
    click.echo(json.dumps(value, indent=indent, ensure_ascii=False, default=str))


def report(run: RunRecord, progress: Progress) -> int:
    """Print the outcome (output JSON on stdout, the rest on stderr); return the exit status."""
    if run.status == RunStatus.SUCCEEDED:
        progress.say(f"run {run.id} succeeded")
        print_json(run.output or {})
        return EXIT_OK
    if run.status == RunStatus.INTERRUPTED and (run.interrupt or {}).get("kind") == "approval":
        request = run.interrupt or {}
        progress.say(
            f"run {run.id} waits for an approval at node '{request.get('node')}' "
            f"(request {request.get('id')})"
        )
        progress.say(f"  {request.get('message', '')}")
        for call in request.get("calls") or []:
            args = json.dumps(call.get("args") or {}, ensure_ascii=False)
            progress.say(f"  call {call.get('id')}: {call.get('name')} {args}")
        progress.say(
            f"  approve with: configurable-agents runs approve {run.id} "
            f"--request {request.get('id')}"
        )
        progress.say(f"  deny with:    configurable-agents runs deny {run.id} --reason ...")
        return EXIT_INTERRUPTED
    if run.status == RunStatus.INTERRUPTED:
        request = run.interrupt or {}
        fields = request.get("fields") or {}
        asked = ", ".join(f"{k} ({v.get('type')})" for k, v in fields.items()) or "nothing"
        progress.say(f"run {run.id} waits at human node '{request.get('node')}'")
        if request.get("prompt"):
            progress.say(f"  {request['prompt']}")
        args = " ".join(f"--input {k}=..." for k in fields)
        progress.say(f"  input needed: {asked}")
        progress.say(f"  resume with: configurable-agents runs resume {run.id} {args}".rstrip())
        return EXIT_INTERRUPTED
    if run.status == RunStatus.CANCELLED:
        progress.say(f"run {run.id} was cancelled")
        return EXIT_FAILED
    error = run.error or {}
    progress.quiet = False
    progress.say(f"error: run {run.id} failed: {error.get('message', 'unknown error')}")
    if run.status == RunStatus.FAILED:
        progress.say(
            f"  retry from the last checkpoint with: configurable-agents runs resume {run.id}"
        )
    return EXIT_FAILED


async def open_thread(engine: Engine, thread_id: str, namespace: str) -> ThreadRecord:
    """The thread of a ``run --thread``: made, as this machine's user, the first time."""
    try:
        return await engine.store.get_thread(thread_id)
    except ThreadNotFound:
        thread = ThreadRecord(
            id=thread_id, namespace=namespace, created_by=Actor(username=getpass.getuser())
        )
        try:
            return await engine.store.create_thread(thread)
        except ThreadConflict:  # made meanwhile by another run
            return await engine.store.get_thread(thread_id)


async def approve_run(
    engine: Engine, run_id: str, given: ApprovalInput, progress: Progress
) -> RunRecord:
    """Record a decision on what the run waits for, as this machine's user, and go on."""
    run = await engine.queue_approval(run_id, given, by=Actor(username=getpass.getuser()))
    verb = "approved" if given.approved or given.calls else "denied"
    progress.say(f"run {run.id} ({run.namespace}/{run.workflow}) {verb}; going on")
    return await engine.execute(run_id, listeners=[progress])


async def resume_run(
    engine: Engine, run_id: str, given: dict[str, Any], progress: Progress
) -> RunRecord:
    """Go on with a run: answer its human node, or continue after a crash or a failure."""
    run = await engine.store.get_run(run_id)
    if run.status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED):
        raise RunError(
            f"run {run_id!r} is {run.status.value}; there is nothing to resume", code="conflict"
        )
    if given and run.status != RunStatus.INTERRUPTED:
        raise RunError(
            f"run {run_id!r} is {run.status.value}: --input only answers an interrupted run",
            code="not_interrupted",
        )
    if run.status == RunStatus.INTERRUPTED:
        await engine.check_resume(run_id, given)  # refused before saying it goes on
    progress.say(f"run {run.id} ({run.namespace}/{run.workflow}) resumed, was {run.status.value}")
    answer = given if run.status == RunStatus.INTERRUPTED else None  # checked above, once
    return await engine.execute(run_id, resume=answer, listeners=[progress])
