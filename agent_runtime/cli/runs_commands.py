"""``runs`` (list, show, resume, approve, deny, cancel, prune) and ``store init``: the runs in
a run store, and setting one up."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import click

from agent_runtime.cli.errors import EXIT_OK
from agent_runtime.cli.options import input_json_option, input_option, quiet_option, store_option
from agent_runtime.statuses import RunStatus

if TYPE_CHECKING:
    from agent_runtime.engine import Engine
    from agent_runtime.engine.approvals import ApprovalInput


@click.group("runs")
def runs() -> None:
    """List, show, resume and cancel runs in the run store."""


@runs.command("list")
@store_option
@click.option("--workflow", help="Only runs of this workflow (name or namespace/name).")
@click.option("--status", type=click.Choice([s.value for s in RunStatus]))
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--cursor", help="The next-page cursor printed by the previous page.")
@click.option("--created-by", metavar="USERNAME", help="Only runs this user started.")
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
def runs_list(
    store_url: str | None,
    workflow: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
    created_by: str | None,
    as_json: bool,
) -> int:
    """Runs, newest first."""
    from agent_runtime.cli.running import print_json, with_engine

    async def body(engine: Engine) -> int:
        page = await engine.store.list_runs(
            workflow=workflow,
            status=RunStatus(status) if status else None,
            created_by=created_by,
            limit=limit,
            cursor=cursor,
        )
        if as_json:
            print_json(
                page.model_dump(
                    mode="json", by_alias=True, exclude={"items": {"__all__": {"spec"}}}
                )
            )
            return EXIT_OK
        click.echo(f"{'ID':<22} {'WORKFLOW':<28} {'STATUS':<12} CREATED")
        for r in page.items:
            click.echo(
                f"{r.id:<22} {r.namespace + '/' + r.workflow:<28} {r.status.value:<12} "
                f"{r.created_at:%Y-%m-%d %H:%M:%S}"
            )
        if page.next_cursor:
            click.echo(f"more: --cursor '{page.next_cursor}'", err=True)
        return EXIT_OK

    return int(asyncio.run(with_engine(store_url, body)))


@runs.command("show")
@click.argument("run_id")
@store_option
def runs_show(run_id: str, store_url: str | None) -> int:
    """A run as JSON: status, input, output, error and its steps."""
    from agent_runtime.cli.running import print_json, with_engine

    async def body(engine: Engine) -> int:
        run = await engine.store.get_run(run_id)
        steps = await engine.store.list_steps(run_id)
        out = run.model_dump(mode="json", by_alias=True, exclude={"spec"})
        out["steps"] = [s.model_dump(mode="json", by_alias=True, exclude={"run_id"}) for s in steps]
        print_json(out)
        return EXIT_OK

    return int(asyncio.run(with_engine(store_url, body)))


@runs.command("resume")
@click.argument("run_id")
@input_option
@input_json_option
@store_option
@quiet_option
def runs_resume(
    run_id: str, pairs: tuple[str, ...], raw_json: str | None, store_url: str | None, quiet: bool
) -> int:
    """Answer an interrupted run's human node, or go on after a crash or failure."""
    from agent_runtime.cli.inputs import parse_inputs
    from agent_runtime.cli.progress import Progress
    from agent_runtime.cli.running import report, resume_run, with_engine
    from agent_runtime.cli.workflow_file import resume_fields

    progress = Progress(quiet=quiet)

    async def body(engine: Engine) -> int:
        run = await engine.store.get_run(run_id)
        fields = (
            resume_fields(run.spec, run.interrupt) if run.status == RunStatus.INTERRUPTED else {}
        )
        given = parse_inputs(pairs, raw_json, fields)
        return report(await resume_run(engine, run_id, given, progress), progress)

    return int(asyncio.run(with_engine(store_url, body)))


def _decide(run_id: str, given: ApprovalInput, store_url: str | None, quiet: bool) -> int:
    """Record the decision as this machine's user and go on with the run."""
    from agent_runtime.cli.progress import Progress
    from agent_runtime.cli.running import approve_run, report, with_engine

    progress = Progress(quiet=quiet)

    async def body(engine: Engine) -> int:
        return report(await approve_run(engine, run_id, given, progress), progress)

    return int(asyncio.run(with_engine(store_url, body)))


_reason_option = click.option("--reason", default="", help="Why; recorded with the decision.")
_request_option = click.option(
    "--request",
    metavar="ID",
    help="The request this answers (as printed); refused if the run now waits for another.",
)


@runs.command("approve")
@click.argument("run_id")
@click.option(
    "--call",
    "calls",
    multiple=True,
    metavar="ID",
    help="Approve only this waiting tool call (repeatable); the others are denied.",
)
@click.option(
    "--result",
    "result_json",
    metavar="JSON",
    help="For a call whose outcome is unknown: go on with this result instead of calling again.",
)
@_request_option
@_reason_option
@store_option
@quiet_option
def runs_approve(
    run_id: str,
    calls: tuple[str, ...],
    result_json: str | None,
    request: str | None,
    reason: str,
    store_url: str | None,
    quiet: bool,
) -> int:
    """Approve what a run waits for (its tool calls, going on past a limit, or calling again a
    tool whose outcome is unknown), and go on."""
    from agent_runtime.engine.approvals import ApprovalInput

    result = None
    if result_json is not None:
        try:
            result = json.loads(result_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON ({exc.msg})", param_hint="--result") from None
    given = (
        ApprovalInput(
            approved=False, reason=reason, calls=dict.fromkeys(calls, True), request=request
        )
        if calls
        else ApprovalInput(approved=True, reason=reason, result=result, request=request)
    )
    return _decide(run_id, given, store_url, quiet)


@runs.command("deny")
@click.argument("run_id")
@_request_option
@_reason_option
@store_option
@quiet_option
def runs_deny(
    run_id: str, request: str | None, reason: str, store_url: str | None, quiet: bool
) -> int:
    """Deny what a run waits for: its model is told the calls were refused (a tool node or a
    limit fails the run)."""
    from agent_runtime.engine.approvals import ApprovalInput

    given = ApprovalInput(approved=False, reason=reason, request=request)
    return _decide(run_id, given, store_url, quiet)


@runs.command("cancel")
@click.argument("run_id")
@store_option
def runs_cancel(run_id: str, store_url: str | None) -> int:
    """Cancel a queued, running or interrupted run."""
    from agent_runtime.cli.running import with_engine

    async def body(engine: Engine) -> int:
        run = await engine.cancel(run_id)
        click.echo(f"run {run.id} cancelled", err=True)
        return EXIT_OK

    return int(asyncio.run(with_engine(store_url, body)))


@runs.command("prune")
@store_option
@click.option(
    "--older-than",
    required=True,
    metavar="AGE",
    help="Remove runs that finished longer ago than this (30d, 12h, 2w).",
)
def runs_prune(store_url: str | None, older_than: str) -> int:
    """Remove finished runs (with their steps, events and checkpoints) older than AGE."""
    from agent_runtime.stores import open_store
    from agent_runtime.stores.retention import parse_age

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None

    async def body() -> int:
        async with open_store(store_url) as store:
            return await store.prune(age)

    count = asyncio.run(body())
    click.echo(f"pruned {count} run(s) that finished more than {older_than} ago", err=True)
    return EXIT_OK


@click.group("store")
def store() -> None:
    """Set up the run store."""


@store.command("init")
@click.argument("url", required=False, envvar="CONFIGURABLE_AGENTS_STORE")
def store_init(url: str | None) -> int:
    """Create the store's tables and bucket (S3 + DynamoDB) or schema, if missing."""
    from agent_runtime.stores import open_store

    for line in asyncio.run(open_store(url).init()):
        click.echo(line, err=True)
    return EXIT_OK
