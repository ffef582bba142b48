"""The ``configurable-agents`` command: run Workflows locally and inspect their runs."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from agent_runtime.cli.access_options import access_options, access_settings
from agent_runtime.cli.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, Failure, run_cli
from agent_runtime.cli.inputs import parse_inputs
from agent_runtime.cli.policy import check_tool_policy
from agent_runtime.cli.progress import Progress
from agent_runtime.cli.ui_options import signin_options
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.engine.state import check_input
from agent_runtime.spec import SpecError, Workflow, load_file
from agent_runtime.spec.errors import Problem
from agent_runtime.spec.mermaid import to_mermaid
from agent_runtime.spec.workflow import HumanNode
from agent_runtime.stores import RunStatus

if TYPE_CHECKING:
    from fastapi import FastAPI
    from pydantic_settings import BaseSettings

    from agent_runtime.engine import Engine
    from agent_runtime.ui.signin_settings import SignInSettings

STORE_HELP = (
    "Run store URL (sqlite:///path.db, postgresql://..., s3://...); env CONFIGURABLE_AGENTS_STORE."
)
store_option = click.option(
    "--store", "store_url", envvar="CONFIGURABLE_AGENTS_STORE", help=STORE_HELP
)
input_option = click.option(
    "--input",
    "-i",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="An input field; the value is parsed by the field's declared type.",
)
input_json_option = click.option(
    "--input-json", "raw_json", metavar="JSON", help="Input fields as one JSON object."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="configurable-agents")
def cli(debug: bool) -> None:
    """Declarative LLM-agent workflows: run them here, or on Kubernetes."""


def pick_workflow(path: str, name: str | None) -> Workflow:
    workflows = [r for r in load_file(path) if isinstance(r, Workflow)]
    if name:
        workflows = [w for w in workflows if w.name == name]
    if len(workflows) == 1:
        return workflows[0]
    what = f"no Workflow named {name!r}" if name else "no Workflow"
    if len(workflows) > 1:
        names = ", ".join(w.name for w in workflows)
        what = f"{len(workflows)} Workflows ({names}); choose one with --workflow"
    raise SpecError([Problem("", what)], source=path)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@input_option
@input_json_option
@store_option
@click.option(
    "--resume", "resume_id", metavar="ID", help="Go on with this run instead of starting one."
)
@click.option("--workflow", "workflow_name", help="Which Workflow of FILE to run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def run(
    file: str,
    pairs: tuple[str, ...],
    raw_json: str | None,
    store_url: str | None,
    resume_id: str | None,
    workflow_name: str | None,
    quiet: bool,
) -> int:
    """Run the Workflow in FILE to completion and print its output as JSON."""
    from agent_runtime.cli.running import report, resume_run, with_engine

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
                _resume_fields(run.spec, run.interrupt)
                if run.status == RunStatus.INTERRUPTED
                else {}
            )
            given = parse_inputs(pairs, raw_json, fields) if fields or pairs or raw_json else {}
            return report(await resume_run(engine, resume_id, given, progress), progress)

        return int(asyncio.run(with_engine(store_url, go_on)))
    given = parse_inputs(pairs, raw_json, workflow.spec.state)
    check_input(workflow.spec, given)  # before the store is opened: a bad run writes nothing
    check_tool_policy(workflow, file)

    async def start(engine: Engine) -> int:
        record = await engine.create_run(workflow, given)
        progress.say(
            f"run {record.id} started ({workflow.namespace}/{workflow.name}, "
            f"store {engine.store.url})"
        )
        return report(await engine.execute(record.id, listeners=[progress]), progress)

    return int(asyncio.run(with_engine(store_url, start)))


def _resume_fields(spec: dict[str, Any], interrupt: dict[str, Any] | None) -> dict[str, Any]:
    node = Workflow.model_validate(spec).spec.node((interrupt or {}).get("node", ""))
    return dict(node.output) if isinstance(node, HumanNode) else {}


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> int:
    """Check Workflow and AgentPool files; one line per problem, naming the field."""
    failed = False
    for path in files:
        try:
            resources = load_file(path)
        except SpecError as exc:
            failed = True
            for line in exc.lines():
                click.echo(f"error: {line}", err=True)
            continue
        for resource in resources:
            if isinstance(resource, Workflow):
                try:
                    check_tool_policy(resource, path)
                except SpecError as exc:
                    failed = True
                    for line in exc.lines():
                        click.echo(f"error: {line}", err=True)
                    continue
            click.echo(f"{path}: {resource.kind} {resource.metadata.name} is valid", err=True)
        if not resources:
            click.echo(f"{path}: no Workflow or AgentPool found", err=True)
            failed = True
    return EXIT_INVALID if failed else EXIT_OK


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workflow", "workflow_name", help="Which Workflow of FILE to draw.")
def graph(file: str, workflow_name: str | None) -> int:
    """Print the Workflow's graph as Mermaid text."""
    click.echo(to_mermaid(pick_workflow(file, workflow_name).spec), nl=False)
    return EXIT_OK


@cli.command()
@click.option("--output-dir", type=click.Path(file_okay=False), help="Write one file per CRD here.")
def crds(output_dir: str | None) -> int:
    """Print the CustomResourceDefinitions generated from the spec models."""
    from agent_runtime.spec.crd import dump_crds, render_crds

    if output_dir:
        dump_crds(Path(output_dir))
    else:
        click.echo(render_crds(), nl=False)
    return EXIT_OK


def _check_kubernetes() -> None:
    """Credentials are there, before any server starts (else its start-up prints a traceback)."""
    from agent_runtime.kube import KubeConfigError, load_configuration

    try:
        load_configuration()
    except KubeConfigError as exc:
        raise Failure(str(exc)) from None


def _check_store(url: str | None) -> None:
    """The store opens (and is migrated) before the gateway serves; a bad URL is one line."""
    from agent_runtime.stores import open_store

    async def check() -> None:
        async with open_store(url):
            pass

    asyncio.run(check())


S = TypeVar("S", bound="BaseSettings")


def _settings(kind: type[S], **values: Any) -> S:
    """Flags over ``CONFIGURABLE_AGENTS_*``; a bad value is one line naming the setting."""
    from pydantic import ValidationError

    try:
        return kind(**values)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"])  # empty for a rule over several settings
            message = e["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise click.UsageError("; ".join(problems)) from None


def _agents(pairs: tuple[str, ...]) -> dict[str, list[str]]:
    agents: dict[str, list[str]] = {}
    for pair in pairs:
        capability, sep, urls = pair.partition("=")
        if not sep or not capability or not urls:
            raise click.BadParameter(
                f"{pair!r}: expected capability=URL[,URL...]", param_hint="--agents"
            )
        agents.setdefault(capability.strip(), []).extend(
            u.strip() for u in urls.split(",") if u.strip()
        )
    return agents


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@store_option
@click.option(
    "--workflows",
    "workflows_dir",
    type=click.Path(file_okay=False, exists=True),
    help="Serve the Workflows in this folder's YAML files.",
)
@click.option(
    "--agents",
    "agent_pairs",
    multiple=True,
    metavar="CAPABILITY=URL[,URL]",
    help="Send this capability's tasks to these agents; by default agents run in-process.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    help="Runs this replica executes at once (default 32; env CONFIGURABLE_AGENTS_CONCURRENCY).",
)
@click.option(
    "--lease-ttl",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds before another replica may take over a run of a dead one "
    "(default 30; env CONFIGURABLE_AGENTS_LEASE_TTL).",
)
@click.option(
    "--kubernetes",
    is_flag=True,
    help="Serve the cluster's Workflows; find agents by EndpointSlices.",
)
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    help="With --kubernetes: only this namespace; repeat for several (default: all; env "
    "CONFIGURABLE_AGENTS_NAMESPACES=a,b).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "text"]),
    default="auto",
    show_default=True,
    envvar="CONFIGURABLE_AGENTS_LOG_FORMAT",
    help="JSON lines (with trace and run ids), plain text, or text on a terminal only.",
)
@access_options
@signin_options
def serve(
    host: str,
    port: int,
    store_url: str | None,
    workflows_dir: str | None,
    agent_pairs: tuple[str, ...],
    concurrency: int | None,
    lease_ttl: float | None,
    kubernetes: bool,
    namespaces: tuple[str, ...],
    log_format: str,
    signin: SignInSettings,
    **access: Any,
) -> int:
    """Run the gateway: the Runs API and workers that execute runs.

    On a loopback address it needs no login; any other address, or --kubernetes, needs --auth
    (Kubernetes TokenReview and/or OpenID Connect, then RBAC decides) or --insecure-no-auth.
    """
    import uvicorn

    from agent_runtime.gateway import create_app
    from agent_runtime.telemetry import configure_logging, setup_tracing
    from agent_runtime.telemetry import logs as telemetry_logs

    configure_logging("info", telemetry_logs.log_format(log_format), service="gateway")
    setup_tracing("configurable-agents-gateway")

    # --namespace flags replace both environment variables; without flags those apply.
    flags: dict[str, Any] = (
        {"namespaces": list(namespaces), "namespace": None} if namespaces else {}
    )
    # flags given override the environment; flags not given leave it (and the defaults) be
    given = {"concurrency": concurrency, "lease_ttl": lease_ttl}
    flags.update({k: v for k, v in given.items() if v is not None})
    from agent_runtime.gateway import GatewaySettings

    settings = _settings(
        GatewaySettings,
        host=host,
        port=port,
        store=store_url,
        workflows=Path(workflows_dir) if workflows_dir else None,
        agents=_agents(agent_pairs),
        kubernetes=kubernetes,
        **flags,
        **access_settings(access),
    )
    if kubernetes or settings.auth:
        _check_kubernetes()
    _check_store(store_url)
    server = uvicorn.Server(
        uvicorn.Config(
            _with_dashboard(create_app(settings), host, port, signin),
            host=host,
            port=port,
            log_config=None,  # uvicorn's lines go through ours (JSON with trace ids)
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=15,  # a client waiting on a run must not hold a shutdown
        )
    )
    server.run()
    return EXIT_OK if server.started else EXIT_FAILED


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
@click.option(
    "--max-concurrent-tasks",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Tasks at once; beyond it the agent answers 429.",
)
def agent(host: str | None, port: int | None, max_concurrent_tasks: int | None) -> int:
    """Run an agent server (what AgentPool pods run); drains on SIGTERM."""
    from agent_runtime.agent import AgentSettings, run_agent

    flags: dict[str, Any] = {
        "host": host,
        "port": port,
        "max_concurrent_tasks": max_concurrent_tasks,
    }
    run_agent(_settings(AgentSettings, **{k: v for k, v in flags.items() if v is not None}))
    return EXIT_OK


def _loopback(host: str, port: int) -> str:
    """This server's own URL from this machine (a wildcard address is reached on loopback)."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"


def _with_dashboard(app: FastAPI, host: str, port: int, signin: SignInSettings) -> FastAPI:
    """The gateway app with the dashboard at /ui/ (and the chat at /chat/), talking to itself."""
    from agent_runtime.ui import UiSecretError, mount_ui

    try:
        mount_ui(app, _loopback(host, port), signin=signin)
    except UiSecretError as exc:
        raise click.UsageError(str(exc)) from None
    return app


@cli.command()
@click.option(
    "--gateway",
    "gateway_url",
    required=True,
    envvar="CONFIGURABLE_AGENTS_GATEWAY",
    metavar="URL",
    help="The gateway whose Runs API the dashboard shows, e.g. http://127.0.0.1:8080.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8081, show_default=True)
@click.option("--no-chat", is_flag=True, help="No chat page, even with Gradio installed.")
@signin_options
def ui(gateway_url: str, host: str, port: int, no_chat: bool, signin: SignInSettings) -> int:
    """Serve the dashboard (/ui/) and the chat page (/chat/) for a gateway, as a sidecar."""
    import uvicorn

    from agent_runtime.ui import UiSecretError, create_ui_app

    if not gateway_url.startswith(("http://", "https://")):
        raise click.BadParameter(
            f"{gateway_url!r}: expected an http:// or https:// URL", param_hint="--gateway"
        )
    if "@" in gateway_url.split("://", 1)[1].split("/", 1)[0]:
        # credentials there would be sent instead of each user's own
        raise click.BadParameter(
            "the URL may not hold credentials: the dashboard acts as each signed-in user",
            param_hint="--gateway",
        )
    try:
        app = create_ui_app(gateway_url, chat=not no_chat, signin=signin)
    except UiSecretError as exc:
        raise click.UsageError(str(exc)) from None
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=5,  # live pages hold event streams open
        )
    )
    server.run()
    return EXIT_OK if server.started else EXIT_FAILED


@cli.command("operator")
@click.option("--namespace", "namespaces", multiple=True, help="Watch only these namespaces.")
@click.option(
    "--agent-image",
    envvar="CONFIGURABLE_AGENTS_OPERATOR_AGENT_IMAGE",
    help="Image for AgentPools that name none.",
)
@click.option("--metrics-port", type=int, default=9090, show_default=True, help="0 turns it off.")
@click.option("--health-port", type=int, default=8081, show_default=True, help="0 turns it off.")
@click.option(
    "--peering",
    envvar="CONFIGURABLE_AGENTS_OPERATOR_PEERING",
    help="kopf peering object shared by replicas, so one works at a time (default: standalone).",
)
@click.option("--verbose", "-v", is_flag=True)
def operator_command(
    namespaces: tuple[str, ...],
    agent_image: str | None,
    metrics_port: int,
    health_port: int,
    peering: str | None,
    verbose: bool,
) -> int:
    """Run the operator against the current kubeconfig (or the in-cluster service account)."""
    from agents_operator.main import OperatorSettings
    from agents_operator.main import run as run_operator

    overrides: dict[str, Any] = {"metrics_port": metrics_port, "health_port": health_port}
    if namespaces:
        overrides["namespaces"] = list(namespaces)
    if agent_image:
        overrides["agent_image"] = agent_image
    if peering:
        overrides["peering"] = peering
    settings = _settings(OperatorSettings, **overrides)  # a bad setting: one line, no traceback
    _check_kubernetes()
    run_operator(settings, verbose=verbose)
    return EXIT_OK


@cli.group()
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
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def runs_resume(
    run_id: str, pairs: tuple[str, ...], raw_json: str | None, store_url: str | None, quiet: bool
) -> int:
    """Answer an interrupted run's human node, or go on after a crash or failure."""
    from agent_runtime.cli.running import report, resume_run, with_engine

    progress = Progress(quiet=quiet)

    async def body(engine: Engine) -> int:
        run = await engine.store.get_run(run_id)
        fields = (
            _resume_fields(run.spec, run.interrupt) if run.status == RunStatus.INTERRUPTED else {}
        )
        given = parse_inputs(pairs, raw_json, fields)
        return report(await resume_run(engine, run_id, given, progress), progress)

    return int(asyncio.run(with_engine(store_url, body)))


def _decide(run_id: str, given: ApprovalInput, store_url: str | None, quiet: bool) -> int:
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
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
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
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def runs_deny(
    run_id: str, request: str | None, reason: str, store_url: str | None, quiet: bool
) -> int:
    """Deny what a run waits for: its model is told the calls were refused (a tool node or a
    limit fails the run)."""
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


@cli.group()
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


def main() -> None:
    sys.exit(run_cli(cli))


if __name__ == "__main__":
    main()
