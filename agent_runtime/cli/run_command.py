"""``run``: a Workflow of a file, from its input to its output, on a local store."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from agent_runtime.cli.options import input_json_option, input_option, quiet_option, store_option

if TYPE_CHECKING:
    from agent_runtime.engine import Engine


@click.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@input_option
@input_json_option
@store_option
@click.option(
    "--resume", "resume_id", metavar="ID", help="Go on with this run instead of starting one."
)
@click.option("--workflow", "workflow_name", help="Which Workflow of FILE to run.")
@click.option(
    "--thread",
    "thread_id",
    metavar="ID",
    help="Run on this thread (made if absent): start from the state its last run ended with.",
)
@quiet_option
def run(
    file: str,
    pairs: tuple[str, ...],
    raw_json: str | None,
    store_url: str | None,
    resume_id: str | None,
    workflow_name: str | None,
    thread_id: str | None,
    quiet: bool,
) -> int:
    """Run the Workflow in FILE to completion and print its output as JSON."""
    from agent_runtime.cli.inputs import parse_inputs
    from agent_runtime.cli.policy import check_tool_policy
    from agent_runtime.cli.progress import Progress
    from agent_runtime.cli.running import open_thread, report, resume_run, with_engine
    from agent_runtime.cli.workflow_file import resume_fields
    from agent_runtime.spec.loader import pick_workflow
    from agent_runtime.spec.run_input import check_input
    from agent_runtime.stores import RunStatus

    if resume_id and thread_id:
        raise click.UsageError("--thread starts a run on a thread; --resume goes on with a run")
    workflow = pick_workflow(file, workflow_name)
    progress = Progress(quiet=quiet)
    if resume_id:

        async def go_on(engine: Engine) -> int:
            run = await engine.store.get_run(resume_id)
            if run.spec_hash != workflow.spec.content_hash():
                progress.say(
                    f"note: {file} changed since run {run.id} started; "
                    "it goes on with the spec it started with"
                )
            fields = (
                resume_fields(run.spec, run.interrupt)
                if run.status == RunStatus.INTERRUPTED
                else {}
            )
            given = parse_inputs(pairs, raw_json, fields) if fields or pairs or raw_json else {}
            return report(await resume_run(engine, resume_id, given, progress), progress)

        return int(asyncio.run(with_engine(store_url, go_on)))
    # checked before the store is opened (a bad run writes nothing), and not again
    given = check_input(workflow.spec, parse_inputs(pairs, raw_json, workflow.spec.state))
    check_tool_policy(workflow, file)

    async def start(engine: Engine) -> int:
        if thread_id is not None:
            await open_thread(engine, thread_id, workflow.namespace)
        record = await engine.create_run(workflow, given, thread_id=thread_id)
        on = f", thread {thread_id}" if thread_id else ""
        progress.say(
            f"run {record.id} started ({workflow.namespace}/{workflow.name}, "
            f"store {engine.store.url}{on})"
        )
        return report(await engine.execute(record.id, listeners=[progress]), progress)

    return int(asyncio.run(with_engine(store_url, start)))
