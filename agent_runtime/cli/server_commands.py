"""``serve``, ``agent``, ``ui`` and ``operator``: the long-running servers, each configured
by its flags over its ``CONFIGURABLE_AGENTS_*`` settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent_runtime.cli.access_options import access_options, access_settings
from agent_runtime.cli.errors import EXIT_FAILED, EXIT_OK
from agent_runtime.cli.options import store_option
from agent_runtime.cli.server_settings import agents_of, check_kubernetes, check_store, settings_of
from agent_runtime.cli.ui_options import signin_options

if TYPE_CHECKING:
    from fastapi import FastAPI

    from agent_runtime.ui.signin_settings import SignInSettings


@click.command("serve")
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

    settings = settings_of(
        GatewaySettings,
        host=host,
        port=port,
        store=store_url,
        workflows=Path(workflows_dir) if workflows_dir else None,
        agents=agents_of(agent_pairs),
        kubernetes=kubernetes,
        **flags,
        **access_settings(access),
    )
    if kubernetes or settings.auth:
        check_kubernetes()
    check_store(store_url)
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


@click.command("agent")
@click.option("--host", default=None, help="Address to listen on (default 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
@click.option(
    "--max-concurrent-tasks",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Tasks at once; beyond it the agent answers 429.",
)
@click.option(
    "--gateway",
    metavar="URL",
    default=None,
    help="Outside the cluster: register with this gateway as a member of --pool. The "
    "credential comes from CONFIGURABLE_AGENTS_GATEWAY_TOKEN or the file named by "
    "--token-file (never a flag value).",
)
@click.option("--pool", default=None, help="The AgentPool to join (with --gateway).")
@click.option("--namespace", default=None, help="The AgentPool's namespace (with --gateway).")
@click.option(
    "--capability",
    "capabilities",
    multiple=True,
    help="A capability served (repeatable; default CONFIGURABLE_AGENTS_CAPABILITIES: any).",
)
@click.option(
    "--pull",
    is_flag=True,
    default=None,
    help="Ask the gateway for tasks (behind NAT) instead of being sent them.",
)
@click.option(
    "--advertise",
    metavar="URL",
    default=None,
    help="Where the gateway sends tasks to this agent, e.g. http://203.0.113.7:8080.",
)
@click.option("--name", "member_name", default=None, help="The member's name (default: host-port).")
@click.option(
    "--token-file",
    "gateway_token_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A file holding the credential, read at each call (a rotated token is picked up).",
)
def agent(
    host: str | None,
    port: int | None,
    max_concurrent_tasks: int | None,
    gateway: str | None,
    pool: str | None,
    namespace: str | None,
    capabilities: tuple[str, ...],
    pull: bool | None,
    advertise: str | None,
    member_name: str | None,
    gateway_token_file: str | None,
) -> int:
    """Run an agent server (what AgentPool pods run); drains on SIGTERM. With --gateway it
    registers with the gateway and keeps a heartbeat, and with --pull it asks for its tasks."""
    from agent_runtime.agent import AgentSettings, run_agent

    flags: dict[str, Any] = {
        "host": host,
        "port": port,
        "max_concurrent_tasks": max_concurrent_tasks,
        "gateway": gateway,
        "pool": pool,
        "namespace": namespace,
        "capabilities": list(capabilities) or None,
        "pull": pull,
        "advertise": advertise,
        "member_name": member_name,
        "gateway_token_file": gateway_token_file,
    }
    started = run_agent(
        settings_of(AgentSettings, **{k: v for k, v in flags.items() if v is not None})
    )
    return EXIT_OK if started else EXIT_FAILED


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


@click.command("ui")
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


@click.command("operator")
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
    settings = settings_of(OperatorSettings, **overrides)  # a bad setting: one line, no traceback
    check_kubernetes()
    run_operator(settings, verbose=verbose)
    return EXIT_OK
